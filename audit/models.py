"""No table of its own: the audit log reads the history tables of every tracked model.

`AuditLog` exists for its permission (`audit.view_auditlog`) and its place in the admin.
"""

from __future__ import annotations

from django.db import models


class AuditLog(models.Model):
    # Not an auto field: with no table there must be no sequence for anyone to reset.
    id = models.BigIntegerField(primary_key=True, editable=False)

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_auditlog", "Can view the audit log")]
        verbose_name = "audit log"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return "audit log"
