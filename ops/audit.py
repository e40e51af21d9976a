"""The audit trail survives deletions: a user who made recorded changes, or an organization
that numbers are offered to, is not deleted (deactivate the user; clear "visible to" through a
service, which writes each number's history row, then delete the organization)."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db.models import Model, ProtectedError
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from simple_history.models import registered_models

from subscriptions.models import Organization


def _recorded_changes_by(user: Any) -> int:
    """History rows (every simple-history model) and admin log entries naming `user`."""
    count = LogEntry.objects.filter(user=user).count()
    for model in registered_models.values():
        history = model.history.model  # type: ignore[attr-defined]
        if any(f.name == "history_user" for f in history._meta.fields):
            count += history.objects.filter(history_user=user).count()
    return count


def deletion_blockers(obj: Model) -> list[str]:
    """Why `obj` may not be deleted, for people; empty when it may."""
    if isinstance(obj, get_user_model()):
        changes = _recorded_changes_by(obj)
        if changes:
            return [f"{obj}: {changes:,} recorded change(s) in the history name this user. "
                    "Deactivate the account instead (untick “Active”), so the history keeps the name."]
    if isinstance(obj, Organization):
        offered = obj.visible_numbers.count()  # type: ignore[attr-defined]
        if offered:
            return [f"{obj}: {offered:,} number(s) are offered to it (“visible to”). Clear that with "
                    "the numbers' mass edit first, so each number's history records it."]
    return []


@receiver(pre_delete, dispatch_uid="ops.audit_refuse_delete")
def refuse_audited_delete(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """The backstop for every path (shell, commands, admin): the delete is refused."""
    if sender is get_user_model() or sender is Organization:
        blockers = deletion_blockers(instance)
        if blockers:
            raise ProtectedError(" ".join(blockers), {instance})


class AuditProtectedDeleteMixin:
    """For a ModelAdmin: the delete page and "delete selected" list the blockers as protected
    (Django then refuses with its "cannot delete" page) instead of failing at the end."""

    def get_deleted_objects(self, objs: Any, request: Any) -> tuple[Any, Any, Any, list[Any]]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)  # type: ignore[misc]
        protected = list(protected) + [reason for obj in objs for reason in deletion_blockers(obj)]
        return deleted, counts, perms_needed, protected
