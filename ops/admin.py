"""Admin of the operations app: heartbeats (read-only), and the user admin with the audit and
tenancy guards (a user with recorded changes is deactivated, not deleted; staff never partner)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.utils import timezone

from subscriptions.models import PartnerMembership, refuse_staff_partner

from .audit import AuditProtectedDeleteMixin
from .models import Heartbeat

User = get_user_model()


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "at", "age", "detail")
    readonly_fields = ("name", "at", "detail")

    @admin.display(description="age")
    def age(self, obj: Heartbeat) -> str:
        return f"{int((timezone.now() - obj.at).total_seconds())} s"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class StaffNotPartnerForm(UserChangeForm):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        membership = PartnerMembership.objects.filter(user_id=self.instance.pk).first()
        if self.instance.pk and membership is not None:
            refuse_staff_partner(username=self.instance.username, organization=membership.organization,
                                 is_staff=bool(data.get("is_staff")),
                                 is_superuser=bool(data.get("is_superuser")))
        return data


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(AuditProtectedDeleteMixin, DjangoUserAdmin):
    form = StaffNotPartnerForm
