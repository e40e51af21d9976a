"""Every choice of the inventory, and the one table of allowed state moves."""

from django.db import models


class NumberState(models.TextChoices):
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    ASSIGNED = "assigned", "Assigned"
    LOCKED = "locked", "Locked"
    COOLING = "cooling", "Cooling"
    DELETED = "deleted", "Deleted"


class ReservationKind(models.TextChoices):
    MANUAL = "manual", "Manual"
    SUBSCRIPTION_EXPIRED = "subscription_expired", "Subscription expired"
    SUBSCRIPTION_TERMINATED = "subscription_terminated", "Subscription terminated"
    SWAPPED_OUT = "swapped_out", "Swapped out"
    CHARGED = "charged", "Charged (DID reservation)"
    LOCK = "lock", "Lock"


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ASSIGNED = "assigned", "Assigned"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"
    EXTENDED = "extended", "Extended"


class DeleteReason(models.TextChoices):
    PORTED_OUT = "ported_out", "Ported out"
    RETURNED_TO_VENDOR = "returned_to_vendor", "Returned to vendor"
    FAULTY = "faulty", "Faulty"
    OTHER = "other", "Other"


class PolicyCause(models.TextChoices):
    MANUAL = "manual", "Manual reserve"
    SUBSCRIPTION_EXPIRED = "subscription_expired", "Subscription expired"
    SUBSCRIPTION_TERMINATED = "subscription_terminated", "Subscription terminated"
    SWAPPED_OUT = "swapped_out", "Swapped out of a subscription"
    LOCK = "lock", "Lock"
    COOLING = "cooling", "Cooling after a reservation ends"
    NOTICE_LEAD = "notice_lead", "Notice lead time"


class Action(models.TextChoices):
    ADD = "add", "Add"
    RESERVE = "reserve", "Reserve"
    LOCK = "lock", "Lock"
    UNLOCK = "unlock", "Unlock"
    ASSIGN = "assign", "Assign"
    RELEASE = "release", "Release"
    EXTEND = "extend", "Extend"
    DELETE = "delete", "Delete"
    RECOVER = "recover", "Recover"
    EXPIRE = "expire", "Expire"
    SUBSCRIPTION_ENDED = "subscription_ended", "Subscription ended"
    SWAP_OUT = "swap_out", "Swap out"


class ImportJobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PREVIEWED = "previewed", "Previewed"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


S = NumberState
A = Action

# Which states each action may start from. The services refuse anything else with a reason.
ALLOWED_TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    A.RESERVE: (frozenset({S.AVAILABLE}), S.RESERVED),
    A.LOCK: (frozenset({S.AVAILABLE}), S.LOCKED),
    A.UNLOCK: (frozenset({S.LOCKED}), S.AVAILABLE),
    A.ASSIGN: (frozenset({S.AVAILABLE, S.RESERVED}), S.ASSIGNED),
    A.RELEASE: (frozenset({S.RESERVED}), None),  # available, or cooling when the policy says so
    A.EXTEND: (frozenset({S.RESERVED}), S.RESERVED),
    A.DELETE: (frozenset({S.AVAILABLE, S.LOCKED}), S.DELETED),
    A.RECOVER: (frozenset({S.DELETED}), S.AVAILABLE),
    A.EXPIRE: (frozenset({S.RESERVED, S.LOCKED, S.COOLING}), None),
    A.SUBSCRIPTION_ENDED: (frozenset({S.ASSIGNED}), S.RESERVED),
    A.SWAP_OUT: (frozenset({S.ASSIGNED}), S.RESERVED),
}

# The admin tabs show only the actions that can start from the tab's state.
def actions_from(state: str) -> list[str]:
    return [a for a, (sources, _) in ALLOWED_TRANSITIONS.items() if state in sources]


CAPABILITIES = ("voice", "sms", "fax")
