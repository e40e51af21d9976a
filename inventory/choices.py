"""Every choice of the inventory, the one table of allowed state moves and the one table
of the permission each action needs."""

from __future__ import annotations

from typing import NamedTuple

from django.db import models


class NumberState(models.TextChoices):
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    ASSIGNED = "assigned", "Assigned"
    LOCKED = "locked", "Locked"
    HOLD = "hold", "Hold"
    COOLING = "cooling", "Cooling"
    DELETED = "deleted", "Deleted"


class AfterHoldState(models.TextChoices):
    """Where a number goes when its hold runs out (JeraSoft's "After Hold")."""

    RESERVED = "reserved", "Reserved for the organization"
    AVAILABLE = "available", "Available"
    DELETED = "deleted", "Deleted (archived)"


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
    ARCHIVED = "archived", "Archived"
    OTHER = "other", "Other"


class PolicyCause(models.TextChoices):
    MANUAL = "manual", "Manual reserve"
    SUBSCRIPTION_EXPIRED = "subscription_expired", "Subscription expired"
    SUBSCRIPTION_TERMINATED = "subscription_terminated", "Subscription terminated"
    SWAPPED_OUT = "swapped_out", "Swapped out of a subscription"
    LOCK = "lock", "Lock"
    COOLING = "cooling", "Cooling after a reservation ends"
    HOLD = "hold", "Hold while the subscription is suspended"
    NOTICE_LEAD = "notice_lead", "Notice lead time"


class Action(models.TextChoices):
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
    HOLD = "hold", "Hold (subscription suspended)"
    UNHOLD = "unhold", "Back from hold (subscription reactivated)"
    HOLD_END = "hold_end", "Hold ended"
    ONBOARD = "onboard", "Onboard"
    SET_RESERVED_FOR = "set_reserved_for", "Set reserved-for"


class ImportJobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PREVIEWED = "previewed", "Previewed"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


S = NumberState
A = Action


class Transition(NamedTuple):
    """One row of the table: where an action may start, and where it leads.

    `target` is where the number goes ("" = it stays in the state it is in: the action
    changes something else). `chosen` lists targets a number may pick instead of `target`
    by its own after-state (a hold ends in the number's `after_hold_state`). `cooling` lists
    the sources whose move ends a tenancy and so goes through cooling instead when the
    cooling policy's period is on (then the number waits in cooling and goes on to
    `target` when that ends). A number leaving cooling goes to its own
    `after_cooling_state` when it has one, else to `target`. The services read both
    sources and target from here (inventory.services.results.Batch.check); nothing else
    decides a move.
    """

    sources: frozenset[str]
    target: str
    cooling: frozenset[str] = frozenset()
    chosen: frozenset[str] = frozenset()


# Which states each action may start from and where it leads. The services refuse anything
# else with a reason; changing a row here changes what they do.
ALLOWED_TRANSITIONS: dict[str, Transition] = {
    A.RESERVE: Transition(frozenset({S.AVAILABLE}), S.RESERVED),
    A.LOCK: Transition(frozenset({S.AVAILABLE}), S.LOCKED),
    A.UNLOCK: Transition(frozenset({S.LOCKED}), S.AVAILABLE),
    A.ASSIGN: Transition(frozenset({S.AVAILABLE, S.RESERVED}), S.ASSIGNED),
    A.RELEASE: Transition(frozenset({S.RESERVED}), S.AVAILABLE, cooling=frozenset({S.RESERVED})),
    A.EXTEND: Transition(frozenset({S.RESERVED}), S.RESERVED),
    A.DELETE: Transition(frozenset({S.AVAILABLE, S.LOCKED}), S.DELETED),
    A.RECOVER: Transition(frozenset({S.DELETED}), S.AVAILABLE),
    A.EXPIRE: Transition(frozenset({S.RESERVED, S.LOCKED, S.COOLING}), S.AVAILABLE,
                         cooling=frozenset({S.RESERVED})),
    A.SUBSCRIPTION_ENDED: Transition(frozenset({S.ASSIGNED, S.HOLD}), S.RESERVED),
    A.SWAP_OUT: Transition(frozenset({S.ASSIGNED}), S.RESERVED),
    # The subscription (package) is suspended: its numbers wait in hold, still its own.
    A.HOLD: Transition(frozenset({S.ASSIGNED}), S.HOLD),
    A.UNHOLD: Transition(frozenset({S.HOLD}), S.ASSIGNED),
    A.HOLD_END: Transition(frozenset({S.HOLD}), S.RESERVED,
                           chosen=frozenset({S.RESERVED, S.AVAILABLE, S.DELETED})),
    A.ONBOARD: Transition(frozenset({S.AVAILABLE, S.RESERVED}), S.ASSIGNED),
    A.SET_RESERVED_FOR: Transition(frozenset(set(NumberState.values) - {S.DELETED}), ""),
}


def transition_target(action: str, state: str, *, cooling_days: int = 0,
                      after_cooling: str = "", chosen: str = "") -> str:
    """Where `action` takes a number in `state` (the caller has checked the source).
    `chosen`: the number's own after-state, taken when the row lists it."""
    rule = ALLOWED_TRANSITIONS[action]
    if chosen and chosen in rule.chosen:
        return chosen
    if not rule.target:
        return state
    if state == S.COOLING and state in rule.sources:
        return after_cooling or rule.target
    if cooling_days > 0 and state in rule.cooling:
        return S.COOLING
    return rule.target


# The admin tabs show only the actions that can start from the tab's state.
def actions_from(state: str) -> list[str]:
    return [a for a, rule in ALLOWED_TRANSITIONS.items() if state in rule.sources]


# The permission (codename in the inventory app) each action by a person needs: the model's
# Meta, the admin's actions, the add form and the import rules all read this table.
ACTION_PERMISSIONS: dict[str, tuple[str, str]] = {
    A.RESERVE: ("reserve_number", "Can reserve numbers"),
    A.LOCK: ("lock_number", "Can lock numbers"),
    A.UNLOCK: ("unlock_number", "Can unlock numbers"),
    A.ASSIGN: ("assign_number", "Can assign numbers"),
    A.RELEASE: ("release_number", "Can release numbers"),
    A.EXTEND: ("extend_number", "Can extend reservations"),
    A.DELETE: ("delete_number", "Can delete numbers (life cycle)"),
    A.RECOVER: ("recover_number", "Can recover deleted numbers"),
    A.SET_RESERVED_FOR: ("set_reserved_for_number", "Can set or clear reserved-for"),
}
MASS_EDIT_PERMISSION = ("mass_edit_number", "Can mass-edit number attributes")
IMPORT_PERMISSION = ("import_phonenumber", "Can import numbers")
EXPORT_PERMISSION = ("export_phonenumber", "Can export numbers")
NUMBER_PERMISSIONS = [*ACTION_PERMISSIONS.values(), MASS_EDIT_PERMISSION, IMPORT_PERMISSION,
                      EXPORT_PERMISSION]


def action_permission(action: str) -> str:
    """The full permission name (`inventory.reserve_number`) for has_perm."""
    return f"inventory.{ACTION_PERMISSIONS[action][0]}"


CAPABILITIES = ("voice", "sms", "fax")


# The seeds' own words for the states (JeraSoft, VOSS), accepted wherever a state is typed.
STATE_WORDS: dict[str, tuple[str, str | None]] = {
    "in stock": (NumberState.AVAILABLE, None),
    "active": (NumberState.ASSIGNED, None),
    "used": (NumberState.ASSIGNED, None),
    "blocked": (NumberState.LOCKED, None),
    "archive": (NumberState.DELETED, DeleteReason.ARCHIVED),
    "archived": (NumberState.DELETED, DeleteReason.ARCHIVED),
}


def state_from_word(word: str) -> tuple[str, str | None]:
    """The state (and, for "Archive", the delete reason) a typed word means.

    The one reading of a typed state for the import, the filters and the API:
    case-insensitive, surrounding spaces ignored; a state's value or label (available,
    "Hold" …) or a seed's word — JeraSoft In stock = available, Active = assigned, Blocked
    = locked, Hold = hold, Archive = deleted (reason archived); VOSS Used = assigned.
    Raises ValueError naming the accepted words for anything else.
    """
    text = " ".join(str(word or "").split()).casefold()
    if text in STATE_WORDS:
        return STATE_WORDS[text]
    for value, label in NumberState.choices:
        if text in (value, str(label).casefold()):
            return value, None
    accepted = [*NumberState.values, "In stock", "Active", "Used", "Blocked", "Hold", "Archive"]
    raise ValueError(f"unknown state {str(word).strip()!r}; one of: {', '.join(accepted)}")
