"""Admin of organizations, subscriptions, subscribers and partner staff.

A subscription's status changes only through subscriptions.services.subscription_set_status
(actions below), so that the numbers of a service that ends are reserved for its
organization and charged reservations follow a DID reservation subscription.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers, widgets
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from audit.admin import HistoryAdmin
from inventory.choices import NumberState
from ops.audit import AuditProtectedDeleteMixin

from .choices import SubscriptionStatus
from .models import Organization, PartnerMembership, Subscriber, Subscription
from .services import (
    UPDATABLE,
    subscription_create,
    subscription_renew,
    subscription_set_status,
    subscription_update,
)


class RenewForm(forms.Form):
    current_period_end = forms.SplitDateTimeField(label="New period end",
                                                  widget=widgets.AdminSplitDateTime())


@admin.register(Organization)
class OrganizationAdmin(AuditProtectedDeleteMixin, HistoryAdmin):
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
    "set_suspended": (SubscriptionStatus.SUSPENDED, "Suspend"),
}


@admin.register(Subscription)
class SubscriptionAdmin(HistoryAdmin):
    ask_change_reason = True
    list_display = ("uuid", "organization", "kind", "plan", "status", "current_period_end",
                    "number_allowance", "subscriber", "numbers_link")
    list_filter = ("kind", "status")
    list_select_related = ("organization",)
    search_fields = ("=uuid", "organization__name", "organization__domain", "plan", "subscriber")
    readonly_fields = ("uuid", "status", "created_at")
    autocomplete_fields = ("organization",)
    fields = ("uuid", "organization", "kind", "plan", "status", "current_period_end",
              "number_allowance", "subscriber", "created_at")
    actions = [*STATUS_ACTIONS, "renew"]
    show_full_result_count = False

    # --- through the services: never a plain save (issue 12 item 5) ----------------------

    def get_readonly_fields(self, request, obj=None):
        """Status and period end change only through the actions (confirmed, services)."""
        fields = [*self.readonly_fields, "swap_link"]
        if obj is None:
            return fields
        # Organization and kind are fixed while it holds numbers (subscription_update refuses
        # the change too): shown read-only so nobody types a change that would be refused.
        return [*fields, "current_period_end", *(("organization", "kind") if obj.holds_numbers() else ())]

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "swap_link"]
        return [*fields, "swap_link"] if obj is not None else fields

    def save_model(self, request, obj, form, change):
        """Created by subscription_create (onboarding its subscriber), changed by
        subscription_update (which refuses an organization or kind change while it holds
        numbers, and an allowance below what it holds)."""
        data = form.cleaned_data
        try:
            if not change:
                created, result = subscription_create(
                    organization=data["organization"], kind=data["kind"], plan=data.get("plan", ""),
                    current_period_end=data.get("current_period_end"),
                    number_allowance=data.get("number_allowance"),
                    subscriber=data.get("subscriber", ""), actor=request.user)
                obj.pk = created.pk
                obj.refresh_from_db()  # the service's row as stored (uuid, status), for the response
            else:
                changes = {name: data[name] for name in form.changed_data if name in UPDATABLE}
                result = subscription_update(subscription=obj, changes=changes, actor=request.user,
                                             remark=data.get("change_reason") or "")
        except ValidationError as exc:
            request._subscription_refused = " ".join(exc.messages)  # type: ignore[attr-defined]
            return
        if result.done:
            self.message_user(request, f"Onboarded: {len(result.done)} number(s) kept for "
                                       f"{obj.subscriber} assigned.", messages.SUCCESS)
        for e164, reason in list(result.rejected.items())[:20]:
            self.message_user(request, f"Not onboarded {e164}: {reason}", messages.WARNING)

    def _refused(self, request):
        reason = getattr(request, "_subscription_refused", None)
        if reason:
            self.message_user(request, f"Nothing saved: {reason}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return None

    def log_change(self, request, obj, message):
        if not getattr(request, "_subscription_refused", None):
            super().log_change(request, obj, message)

    def response_change(self, request, obj):
        return self._refused(request) or super().response_change(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        return self._refused(request) or super().response_add(request, obj, post_url_continue)

    def log_addition(self, request, obj, message):
        if not getattr(request, "_subscription_refused", None):
            super().log_addition(request, obj, message)

    @admin.display(description="swap a number")
    def swap_link(self, obj):
        url = reverse("admin:inventory_phonenumber_changelist")
        return format_html('<a href="{}?subscription={}&amp;state=assigned">Its assigned numbers</a> — '
                           'open one and choose “Swap out…”', url, obj.uuid)

    @admin.action(description="Renew selected subscriptions (new period end)…", permissions=["change"])
    def renew(self, request, queryset):
        """A new period end through subscription_renew: charged reservations follow it."""
        subs = list(queryset.select_related("organization").order_by("pk"))
        form = RenewForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            end = form.cleaned_data["current_period_end"]
            renewed, moved = 0, 0
            for sub in subs:
                try:
                    moved += subscription_renew(subscription=sub, current_period_end=end,
                                                actor=request.user)
                except ValidationError as exc:
                    self.message_user(request, f"{sub}: {' '.join(exc.messages)}", messages.WARNING)
                    continue
                renewed += 1
            if renewed:
                text = f"Renewed {renewed} subscription(s) until {timezone.localtime(end):%-d %b %Y %H:%M}"
                self.message_user(request, text + (f"; {moved} charged reservation(s) follow." if moved
                                                   else "."), messages.SUCCESS)
            return None
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request), "title": "Renew subscriptions", "subtitle": None,
            "opts": opts, "app_label": opts.app_label, "subscriptions": subs, "form": form,
            "action": "renew", "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME, "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/subscriptions/subscription/renew.html", context)

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

    @admin.action(description="Suspend selected subscriptions (numbers go into hold)…",
                  permissions=["change"])
    def set_suspended(self, request, queryset):
        return self._set_status(request, queryset, "set_suspended")

    @admin.action(description="Reactivate selected subscriptions…", permissions=["change"])
    def set_active(self, request, queryset):
        return self._set_status(request, queryset, "set_active")

    @admin.display(description="numbers")
    def numbers_link(self, obj):
        url = reverse("admin:inventory_phonenumber_changelist")
        return format_html('<a href="{}?subscription={}">numbers</a>', url, obj.uuid)


@admin.register(Subscriber)
class SubscriberAdmin(HistoryAdmin):
    list_display = ("username", "organization")
    list_select_related = ("organization",)
    search_fields = ("username", "organization__name")
    autocomplete_fields = ("organization",)


@admin.register(PartnerMembership)
class PartnerMembershipAdmin(HistoryAdmin):  # PartnerMembership.clean: never staff
    """Partner staff: dashboard users, never staff."""

    list_display = ("user", "organization")
    list_select_related = ("user", "organization")
    search_fields = ("user__username", "organization__name")
    autocomplete_fields = ("user", "organization")
