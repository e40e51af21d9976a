from django.db import models


class NoticeKind(models.TextChoices):
    RESERVATION_EXPIRING = "reservation_expiring", "Reservation expiring"
    LOCK_EXPIRING = "lock_expiring", "Lock expiring"
    LOCK_EXPIRED = "lock_expired", "Lock expired"


class NoticeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled (no longer true)"
