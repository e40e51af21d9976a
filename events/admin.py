"""Events and webhooks in the ops admin: thin adapters over events.services.

Endpoints are created and changed through the services (URL checks, a fresh secret shown
once, secret rotation with an overlap); deliveries and their attempts are read-only with a
"Replay" action; an endpoint has "Replay since…". The event list is read-only and built for
a big table: no full count, the inventory's estimated-count paginator.
"""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from inventory.admin_views import EstimatedCountPaginator

from . import services
from .choices import EventType
from .models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https",
                         help_text="https://… (the receiver's address; checked before it is saved)")
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.")

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types", "partner", "active")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if self.instance.pk and url == self.instance.url:
            return url
        try:
            return services.webhook_url_validate(url)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["url"]) from None


class ReplaySinceForm(forms.Form):
    since = forms.SplitDateTimeField(widget=forms.SplitDateTimeWidget(
        date_attrs={"type": "date"}, time_attrs={"type": "time", "step": "1"}),
        help_text="Events that occurred at or after this time (server time zone).")


class ReplayPermissionMixin:
    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("events.replay_webhookdelivery")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReplayPermissionMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "description", "partner", "active", "types", "disabled_reason", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description")
    readonly_fields = ("disabled_reason", "previous_secret_expires_at", "created_by", "created_at",
                       "updated_at", "deliveries_link")
    actions = ["replay_since", "rotate_secret"]

    @admin.display(description="event types")
    def types(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types) or "all"

    @admin.display(description="deliveries")
    def deliveries_link(self, obj: WebhookEndpoint) -> str:
        if not obj.pk:
            return "—"
        url = reverse("admin:events_webhookdelivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">Deliveries of this endpoint</a>', url)

    def save_model(self, request, obj: WebhookEndpoint, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = services.webhook_endpoint_update(
                endpoint=obj, actor=request.user, url=data["url"], description=data["description"],
                event_types=data["event_types"], active=data["active"])
        else:
            saved = services.webhook_endpoint_create(
                url=data["url"], actor=request.user, description=data["description"],
                event_types=data["event_types"], partner=data["partner"], active=data["active"])
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "partner"] if obj else fields  # a partner's endpoint stays that partner's

    def _secret_page(self, request, endpoint: WebhookEndpoint, *, intro: str, secret: str):
        return TemplateResponse(request, "admin/events/secret.html", {
            **self.admin_site.each_context(request), "title": "Webhook signing secret",
            "opts": self.model._meta, "endpoint": endpoint, "intro": intro, "secret": secret,
            "previous_until": endpoint.previous_secret_expires_at if endpoint.previous_secret else None,
            "back_url": reverse("admin:events_webhookendpoint_change", args=[endpoint.pk]),
        })

    def response_add(self, request, obj, post_url_continue=None):
        return self._secret_page(request, obj, intro=f"Endpoint {obj} created.", secret=obj.secret)

    @admin.action(description="Rotate the signing secret (shows the new one)",
                  permissions=["rotate"])
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Rotate one endpoint at a time.", messages.WARNING)
            return None
        endpoint = queryset.get()
        secret = services.webhook_endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        endpoint.refresh_from_db()
        return self._secret_page(request, endpoint, intro=f"The secret of {endpoint} was rotated.",
                                 secret=secret)

    def has_rotate_permission(self, request) -> bool:
        return request.user.has_perm("events.rotate_webhookendpoint_secret")

    @admin.action(description="Replay since…", permissions=["replay"])
    def replay_since(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Replay one endpoint at a time.", messages.WARNING)
            return None
        endpoint = queryset.get()
        initial = {"since": timezone.localtime() - dt.timedelta(days=1)}
        form = ReplaySinceForm(request.POST if "apply" in request.POST else None, initial=initial)
        if "apply" in request.POST and form.is_valid():
            try:
                count = services.webhook_delivery_replay(
                    actor=request.user, endpoint=endpoint, since=form.cleaned_data["since"])
            except ValidationError as exc:
                form.add_error(None, " ".join(exc.messages))
            else:
                self.message_user(request, f"{count} deliveries to {endpoint} queued again.",
                                  messages.SUCCESS)
                return None
        return TemplateResponse(request, "admin/events/replay_since.html", {
            **self.admin_site.each_context(request), "title": f"Replay deliveries to {endpoint}",
            "opts": self.model._meta, "endpoint": endpoint, "form": form,
            "action": "replay_since", "action_checkbox_name": ACTION_CHECKBOX_NAME,
        })


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("at", "status_code", "duration_ms", "response", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-at", "-id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReplayPermissionMixin, admin.ModelAdmin):
    list_display = ("id", "event_link", "endpoint", "status", "attempts", "last_status_code",
                    "next_attempt_at", "delivered_at", "short_error")
    list_filter = ("status", "endpoint")
    list_select_related = ("event", "endpoint")
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ("-id",)
    actions = ["replay"]
    fields = ("event_link", "endpoint", "status", "attempts", "next_attempt_at", "last_status_code",
              "last_error", "delivered_at", "replayed_at", "replayed_by", "created_at")
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]

    @admin.display(description="event")
    def event_link(self, obj: WebhookDelivery) -> str:
        url = reverse("admin:events_event_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event)

    @admin.display(description="last error")
    def short_error(self, obj: WebhookDelivery) -> str:
        return Truncator(obj.last_error).chars(80)

    @admin.action(description="Replay (send again from the first attempt)", permissions=["replay"])
    def replay(self, request, queryset):
        count = services.webhook_delivery_replay(actor=request.user, deliveries=queryset)
        skipped = queryset.count() - count
        self.message_user(request, f"{count} deliveries queued again."
                          + (f" {skipped} skipped: their endpoint is inactive." if skipped else ""),
                          messages.SUCCESS if count else messages.WARNING)

    def has_add_permission(self, request) -> bool:
        return False  # deliveries are written by events_emit, never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "occurred_at", "actor_name", "numbers", "short_remark")
    list_filter = ("type",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ("-id",)
    fields = ("id", "type", "occurred_at", "actor", "actor_name", "remark", "body")
    readonly_fields = fields

    @admin.display(description="numbers")
    def numbers(self, obj: Event) -> int | str:
        return obj.number_count or "—"

    @admin.display(description="remark")
    def short_remark(self, obj: Event) -> str:
        return Truncator(obj.remark).chars(60)

    @admin.display(description="data")
    def body(self, obj: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, ensure_ascii=False))

    def has_add_permission(self, request) -> bool:
        return False  # events are written by the services, never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
