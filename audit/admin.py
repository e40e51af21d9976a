"""The global audit log page, and the base admin of every record an operator can change."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from simple_history.admin import SimpleHistoryAdmin

from .forms import AuditLogFilterForm, change_reason_field
from .models import AuditLog
from .selectors import audit_log_page


class HistoryAdmin(SimpleHistoryAdmin):
    """Every save is a history row naming the acting user (simple-history), with a
    History page per record. `ask_change_reason`: the change form also asks why, and the
    history row keeps the answer. History pages only show: a revert would bypass the
    services (a subscription's organization and kind change only through them)."""

    ask_change_reason = False

    def _asks_reason(self, obj: Any) -> bool:
        return self.ask_change_reason and obj is not None

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        if self._asks_reason(obj):
            kwargs["form"] = type(self.form.__name__, (self.form,), {"change_reason": change_reason_field()})
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None):
        fields = list(super().get_fields(request, obj))
        if self._asks_reason(obj) and "change_reason" not in fields:
            fields.append("change_reason")
        return fields

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        reason = getattr(form, "cleaned_data", {}).get("change_reason")
        if reason:
            obj._change_reason = reason
        super().save_model(request, obj, form, change)

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def history_form_view(self, request: HttpRequest, object_id: str, version_id: str,
                          extra_context: dict | None = None) -> HttpResponse:
        if request.method != "GET":
            raise PermissionDenied("History is read-only.")
        return super().history_form_view(request, object_id, version_id, extra_context)


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """/admin/audit/auditlog/: staff with `audit.view_auditlog` (superusers have it)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        return [path("", self.admin_site.admin_view(self.changelist_view),
                     name=f"{opts.app_label}_{opts.model_name}_changelist")]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = AuditLogFilterForm(request.GET or None)
        page = None
        if form.is_bound and form.is_valid():
            page = audit_log_page(filters=form.filters(), cursor=form.cleaned_data["after"])
        elif not form.is_bound:
            form = AuditLogFilterForm({})
            form.is_valid()
            page = audit_log_page(filters=form.filters())
        next_url = None
        if page and page.next_cursor:
            query = request.GET.copy()
            query["after"] = page.next_cursor.encode()
            next_url = f"?{query.urlencode()}"
        first_query = request.GET.copy()
        first_query.pop("after", None)
        context = {
            **self.admin_site.each_context(request),
            "title": "Audit log",
            "subtitle": None,
            "opts": self.model._meta,
            "app_label": self.model._meta.app_label,
            "form": form,
            "page": page,
            "next_url": next_url,
            "first_url": f"?{first_query.urlencode()}",
            "is_first_page": "after" not in request.GET,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/audit/audit_log.html", context)
