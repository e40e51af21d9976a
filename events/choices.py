from django.db import models


class EventType(models.TextChoices):
    """The domain events of DESIGN §10: one per service call (≤ 1,000 numbers each)."""

    NUMBER_ADDED = "number.added", "Number added"
    NUMBER_RESERVED = "number.reserved", "Number reserved"
    NUMBER_LOCKED = "number.locked", "Number locked"
    NUMBER_UNLOCKED = "number.unlocked", "Number unlocked"
    NUMBER_ASSIGNED = "number.assigned", "Number assigned"
    NUMBER_RELEASED = "number.released", "Number released"
    NUMBER_EXTENDED = "number.extended", "Number extended"
    NUMBER_DELETED = "number.deleted", "Number deleted"
    NUMBER_RECOVERED = "number.recovered", "Number recovered"
    NUMBER_EXPIRED = "number.expired", "Number expired"
    NUMBER_HELD = "number.held", "Number held"
    NUMBER_UPDATED = "number.updated", "Number updated"
    NUMBER_RESERVED_FOR_CHANGED = "number.reserved_for_changed", "Number reserved-for changed"
    RESERVATION_EXPIRING = "reservation.expiring", "Reservation expiring"
    SUBSCRIPTION_STATUS_CHANGED = "subscription.status_changed", "Subscription status changed"
    SUBSCRIPTION_RENEWED = "subscription.renewed", "Subscription renewed"
    IMPORT_FINISHED = "import.finished", "Import finished"


NUMBER_EVENT_TYPES = frozenset(t.value for t in EventType if t.value.startswith(("number.", "reservation.")))
SUBSCRIPTION_EVENT_TYPES = frozenset({EventType.SUBSCRIPTION_STATUS_CHANGED.value,
                                      EventType.SUBSCRIPTION_RENEWED.value})


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (retries exhausted)"
    DISABLED = "disabled", "Endpoint disabled"
