from django.db import models
from django.db.models import Q

from .choices import NoticeKind, NoticeStatus


class Notice(models.Model):
    """The email outbox: written in the decision's transaction, sent later by a task."""

    kind = models.CharField(max_length=32, choices=NoticeKind.choices)
    number = models.ForeignKey(
        "inventory.PhoneNumber", on_delete=models.CASCADE, related_name="notices"
    )
    reservation = models.ForeignKey(
        "inventory.Reservation", on_delete=models.CASCADE, related_name="notices"
    )
    ends_at = models.DateTimeField(help_text="The end the notice is about.")
    recipients = models.JSONField(default=list)
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=NoticeStatus.choices, default=NoticeStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reservation", "kind", "ends_at"], name="notice_once_per_end"
            ),
            models.CheckConstraint(
                condition=Q(status__in=NoticeStatus.values), name="notice_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="notice_status_due")]
        permissions = [("retry_notice", "Can retry failed notices")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.number_id} · {self.get_status_display()}"
