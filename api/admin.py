"""API keys in the admin: list, create (the key is shown once), revoke."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from subscriptions.choices import OrganizationKind
from subscriptions.models import Organization

from .keys import api_key_create, api_key_revoke
from .models import ApiKey


class ApiKeyCreateForm(forms.ModelForm):
    group = forms.ModelChoiceField(Group.objects.all(), required=False,
                                   help_text="Ops key: the service user's group.")
    permissions = forms.ModelMultipleChoiceField(
        Permission.objects.filter(content_type__app_label__in=["inventory", "subscriptions"]),
        required=False, help_text="Ops key: single permissions (with or without a group).")
    partner = forms.ModelChoiceField(Organization.objects.filter(kind=OrganizationKind.PARTNER),
                                     required=False, help_text="Partner key: read-only, its numbers.")
    expires_days = forms.IntegerField(min_value=1, required=False, label="Expires after (days)")

    class Meta:
        model = ApiKey
        fields = ["name"]

    def clean(self):
        data = super().clean()
        if bool(data.get("partner")) == bool(data.get("group") or data.get("permissions")):
            raise ValidationError("Choose a group or permissions (ops key), or a partner (partner key).")
        if ApiKey.objects.filter(name=data.get("name"), revoked=False).exists():
            raise ValidationError({"name": "A usable key with this name exists; revoke it first."})
        return data


if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)  # the library's own model; this project's keys are ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = ("name", "kind", "prefix", "user", "created", "expiry_date", "_has_expired", "revoked")
    list_filter = ("kind", "revoked")
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "group", "permissions", "partner", "expires_days"]
        return ["name", "kind", "prefix", "user", "created", "expiry_date", "revoked"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("name", "kind", "prefix", "user", "created", "expiry_date", "revoked")

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the key's history must keep its service user

    def save_model(self, request, obj, form, change) -> None:
        data = form.cleaned_data
        perms = [f"{p.content_type.app_label}.{p.codename}" for p in data.get("permissions") or []]
        group = data.get("group")
        key, secret = api_key_create(name=data["name"], group=group.name if group else None,
                                     permissions=perms, partner=data.get("partner"),
                                     expires_days=data.get("expires_days"))
        obj.pk = key.pk
        messages.warning(request, f"The API key for {key.name} is: {secret} — store it now: it is "
                                  "not shown again.")

    def log_addition(self, request, obj, message):
        return None  # the key was created by api_key_create; obj is only its echo

    @admin.action(description="Revoke selected keys (cannot be undone)", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        names = sorted(set(queryset.filter(revoked=False).values_list("name", flat=True)))
        count = sum(api_key_revoke(name=name) for name in names)
        messages.success(request, f"{count} key(s) revoked.")

