"""Admin of organizations, subscriptions, subscribers and partner staff.

A subscription's status changes only through subscriptions.services.subscription_set_status
(actions below), so that the numbers of a service that ends are reserved for its
organization and charged reservations follow a DID reservation subscription.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from inventory.choices import NumberState
from ops.audit import AuditProtectedDeleteMixin

from .choices import SubscriptionStatus
from .models import Organization, PartnerMembership, Subscriber, Subscription
from .services import subscription_set_status


@admin.register(Organization)
class OrganizationAdmin(AuditProtectedDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "parent", "uuid", "notice_email_col", "domain")
    list_filter = ("kind",)
    list_select_related = ("parent",)
    search_fields = ("name", "domain", "=uuid")
    readonly_fields = ("uuid", "created_at")
    autocomplete_fields = ("parent",)
    fields = ("uuid", "name", "kind", "parent", "billing_email", "owner_email", "support_email",
              "domain", "created_at")

    @admin.display(description="notice email")
    def notice_email_col(self, obj):
        return obj.notice_email or "—"


STATUS_ACTIONS = {
    "set_expired": (SubscriptionStatus.EXPIRED, "Expire"),
    "set_terminated": (SubscriptionStatus.TERMINATED, "Terminate"),
    "set_active": (SubscriptionStatus.ACTIVE, "Reactivate"),
}


class SubscriptionAdminForm(forms.ModelForm):
    class Meta:
        model = Subscription
        fields = ("organization", "kind", "plan", "current_period_end", "number_allowance",
                  "subscriber")

    def clean(self):
        # Lock the row first (the admin's change view is one transaction), as the services
        # do before assigning: no number can be assigned between this check and the save.
        if self.instance.pk:
            Subscription.objects.select_for_update().filter(pk=self.instance.pk).first()
        return super().clean()


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionAdminForm
    list_display = ("uuid", "organization", "kind", "plan", "status", "current_period_end",
                    "number_allowance", "subscriber", "numbers_link")
    list_filter = ("kind", "status")
    list_select_related = ("organization",)
    search_fields = ("=uuid", "organization__name", "plan", "subscriber")
    readonly_fields = ("uuid", "status", "created_at")
    autocomplete_fields = ("organization",)
    fields = ("uuid", "organization", "kind", "plan", "status", "current_period_end",
              "number_allowance", "subscriber", "created_at")
    actions = list(STATUS_ACTIONS)
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        """Organization and kind are fixed once it holds numbers (Subscription.clean says why)."""
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and obj.holds_numbers():
            return (*fields, "organization", "kind")
        return fields

    def _set_status(self, request, queryset, action: str):
        """Confirm first (it moves numbers), then one service call per subscription."""
        status, verb = STATUS_ACTIONS[action]
        subs = list(queryset.select_related("organization").order_by("pk"))
        if "apply" not in request.POST:
            assigned = dict(
                queryset.order_by().values_list("pk").annotate(
                    n=Count("numbers", filter=Q(numbers__state=NumberState.ASSIGNED))
                )
            )
            opts = self.model._meta
            context = {
                **self.admin_site.each_context(request),
                "title": f"{verb} subscriptions",
                "subtitle": None,
                "opts": opts,
                "app_label": opts.app_label,
                "subscriptions": [(s, assigned.get(s.pk, 0)) for s in subs],
                "assigned_total": sum(assigned.values()),
                "status": status,
                "verb": verb,
                "action": action,
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/subscriptions/subscription/set_status.html", context)
        changed = reserved = 0
        errors = []
        for sub in subs:
            try:
                result = subscription_set_status(subscription=sub, status=status, actor=request.user)
            except ValidationError as exc:
                errors.append(f"{sub.uuid}: {' '.join(exc.messages)}")
                continue
            changed += 1
            reserved += len(result.done)
        text = f"{verb}: {changed} subscription(s) set to {status}"
        if reserved:
            text += f"; {reserved} number(s) reserved for their organizations"
        self.message_user(request, text + ".", messages.SUCCESS if not errors else messages.WARNING)
        for error in errors:
            self.message_user(request, error, messages.ERROR)
        return None

    @admin.action(description="Expire selected subscriptions (numbers are reserved 56 days)…",
                  permissions=["change"])
    def set_expired(self, request, queryset):
        return self._set_status(request, queryset, "set_expired")

    @admin.action(description="Terminate selected subscriptions (numbers are reserved 28 days)…",
                  permissions=["change"])
    def set_terminated(self, request, queryset):
        return self._set_status(request, queryset, "set_terminated")

    @admin.action(description="Reactivate selected subscriptions…", permissions=["change"])
    def set_active(self, request, queryset):
        return self._set_status(request, queryset, "set_active")

    @admin.display(description="numbers")
    def numbers_link(self, obj):
        url = reverse("admin:inventory_phonenumber_changelist")
        return format_html('<a href="{}?subscription={}">numbers</a>', url, obj.uuid)


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ("username", "organization")
    list_select_related = ("organization",)
    search_fields = ("username", "organization__name")
    autocomplete_fields = ("organization",)


@admin.register(PartnerMembership)
class PartnerMembershipAdmin(admin.ModelAdmin):  # PartnerMembership.clean: never staff
    """Partner staff: dashboard users, never staff."""

    list_display = ("user", "organization")
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "organization__name")
    autocomplete_fields = ("user", "organization")
