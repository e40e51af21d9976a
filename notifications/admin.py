"""The outbox in the admin: read-only rows, filters, and a retry action (its own permission)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.text import Truncator

from . import services
from .models import Notice


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "number", "recipient_list", "ends_at", "status", "attempts",
                    "next_attempt_at", "sent_at", "short_error")
    list_filter = ("status", "kind", ("ends_at", admin.DateFieldListFilter),
                   ("sent_at", admin.DateFieldListFilter))
    search_fields = ("number__e164__startswith",)
    search_help_text = "Number, from its start: +6560…"
    list_select_related = ("number",)
    date_hierarchy = "due_at"
    ordering = ("-due_at", "-id")
    show_full_result_count = False
    actions = ["retry"]
    fields = ("kind", "status", "number", "reservation", "recipients", "ends_at", "due_at",
              "attempts", "next_attempt_at", "sent_at", "last_error", "created_at")
    readonly_fields = fields

    @admin.display(description="recipients")
    def recipient_list(self, obj: Notice) -> str:
        return ", ".join(obj.recipients) or "—"

    @admin.display(description="last error")
    def short_error(self, obj: Notice) -> str:
        return Truncator(obj.last_error).chars(80)

    def has_add_permission(self, request) -> bool:
        return False  # notices are decided by the services, never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a deleted notice would be written and sent again by the next run

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("notifications.retry_notice")

    @admin.action(description="Retry the selected notices now", permissions=["retry"])
    def retry(self, request, queryset):
        count = services.notices_retry(notices=queryset)
        skipped = queryset.count() - count
        if count:
            self.message_user(request, f"{count} notice{'s' if count != 1 else ''} queued again; "
                              "they go out with the next send (within a minute).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} not retried: only failed notices, or pending "
                              "ones waiting for a retry, can be retried.", messages.WARNING)
