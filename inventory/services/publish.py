"""Number moves told as domain events (DESIGN §10): the one table from an action to its
event type, and the conversions the services use to publish what they changed.

Every call runs inside the service's own transaction, after its other writes (last in the
lock order), so an event exists exactly when its change does. Snapshots are built from
values the service already holds: publishing adds no query per number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from events.choices import EventType
from events.models import Event
from events.services import EventsDraft, NumberChange, NumberSnapshot, events_draft, events_emit

from ..choices import Action

if TYPE_CHECKING:
    from . import results

A = Action
E = EventType
UPDATE = "update"  # a Batch's action for mass edits and an import's attribute changes

# Which event each move writes. Every action of ALLOWED_TRANSITIONS has a row (a test checks
# it): a new action needs one here (docs/architecture.md, adding a state, step 5).
ACTION_EVENTS: dict[str, str] = {
    A.RESERVE: E.NUMBER_RESERVED,
    A.LOCK: E.NUMBER_LOCKED,
    A.UNLOCK: E.NUMBER_UNLOCKED,
    A.ASSIGN: E.NUMBER_ASSIGNED,  # also next-available
    A.ONBOARD: E.NUMBER_ASSIGNED,
    A.RELEASE: E.NUMBER_RELEASED,
    A.EXTEND: E.NUMBER_EXTENDED,
    A.DELETE: E.NUMBER_DELETED,
    A.RECOVER: E.NUMBER_RECOVERED,
    A.EXPIRE: E.NUMBER_EXPIRED,
    A.HOLD: E.NUMBER_HELD,
    A.UNHOLD: E.NUMBER_ASSIGNED,
    A.HOLD_END: E.NUMBER_EXPIRED,
    A.SUBSCRIPTION_ENDED: E.NUMBER_RESERVED,
    A.SWAP_OUT: E.NUMBER_RESERVED,
    A.SET_RESERVED_FOR: E.NUMBER_RESERVED_FOR_CHANGED,
    UPDATE: E.NUMBER_UPDATED,
}
# Actions told with another action's event type: the event's data names them as `cause`.
CAUSED = frozenset({A.ONBOARD, A.UNHOLD, A.HOLD_END, A.SUBSCRIPTION_ENDED, A.SWAP_OUT})


def snapshot(values: Mapping[str, Any], *, visible_to_id: int | None = None) -> NumberSnapshot:
    """A snapshot from a number's tracked values (results.TRACKED, or a sweep's row)."""
    return NumberSnapshot(state=values["state"], organization_id=values.get("organization_id"),
                          subscription_id=values.get("subscription_id"),
                          expires_at=values.get("expires_at"),
                          reserved_for=values.get("reserved_for") or "",
                          visible_to_id=values.get("visible_to_id", visible_to_id))


def changes_publish(*, changes: Sequence[results.NumberChange], actor: Any, remark: str,
                    now: dt.datetime, visible_to: Mapping[int, int | None]) -> list[Event]:
    """One event per action among `changes` (an import mixes them) and ≤ 1,000 numbers.

    `visible_to`: number id → the partner it is visible to (a tracked value the batch's
    numbers carry in memory)."""
    by_action: dict[str, list[NumberChange]] = {}
    for c in changes:
        seen = visible_to.get(c.number_id)
        by_action.setdefault(c.action, []).append(NumberChange(
            c.e164, snapshot(c.before, visible_to_id=seen), snapshot(c.after, visible_to_id=seen)))
    events: list[Event] = []
    for action, items in by_action.items():
        events += events_emit(type=ACTION_EVENTS[action], actor=actor, remark=remark,
                              numbers_before_after=items, now=now,
                              data={"cause": action} if action in CAUSED else None)
    return events


def numbers_added_draft(*, added: Iterable[tuple[str, NumberSnapshot]], actor: Any, remark: str,
                          now: dt.datetime, background: bool = False) -> EventsDraft:
    """number.added for new numbers, (e164, snapshot) each: there is no before. The caller
    writes the draft once the numbers are; `background` builds it meanwhile (EventsDraft)."""
    return events_draft(type=E.NUMBER_ADDED, actor=actor, remark=remark, now=now, background=background,
                        numbers_before_after=[(e164, None, after) for e164, after in added])


def snapshot_after(before: NumberSnapshot, values: Mapping[str, Any]) -> NumberSnapshot:
    """`before` with a set-wise write's new values applied (field names, as the services
    write them). Built directly: a sweep makes one per number."""
    get = values.get
    return NumberSnapshot(
        state=get("state", before.state),
        organization_id=_pk(get("organization", before.organization_id)),
        subscription_id=_pk(get("subscription", before.subscription_id)),
        expires_at=get("expires_at", before.expires_at),
        reserved_for=get("reserved_for", before.reserved_for) or "",
        visible_to_id=before.visible_to_id)


def _pk(value: Any) -> int | None:
    return getattr(value, "pk", value)


def numbers_moved_publish(*, type: str, moved: Iterable[tuple[str, NumberSnapshot, Mapping[str, Any]]],
                          actor: Any, remark: str, now: dt.datetime, subscription: Any = None,
                          data: dict[str, Any] | None = None) -> list[Event]:
    """A move written set-wise, not through a Batch (the expiry sweep, charged reservations
    following their subscription): (e164, before, the values written) for each number."""
    return events_emit(type=type, actor=actor, remark=remark, now=now, data=data,
                       subscription=subscription,
                       numbers_before_after=[NumberChange(e164, before, snapshot_after(before, values))
                                             for e164, before, values in moved])
