"""Moves nobody clicks: the expiry sweep (reservations, locks, cooling and holds), the
numbers of a subscription that ended, was suspended or came back, onboarding, charged
reservations that follow their subscription, and the swap.

They take their sources and targets from `ALLOWED_TRANSITIONS` (EXPIRE, HOLD_END,
SUBSCRIPTION_ENDED, HOLD, UNHOLD, ONBOARD, SWAP_OUT) and their locks in the one order
(locks.py), like the actions a person takes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from events.choices import EventType
from events.services import NumberChange, NumberSnapshot, events_draft
from notifications.services import notices_write_lock_expired
from subscriptions.choices import SubscriptionKind, SubscriptionStatus
from subscriptions.models import Organization, Subscription

from ..bulk import bound_cursor, pg_array, pg_ids
from ..choices import (
    ALLOWED_TRANSITIONS,
    Action,
    DeleteReason,
    NumberState,
    PolicyCause,
    ReservationKind,
    ReservationStatus,
    transition_target,
)
from ..models import PhoneNumber, Reservation
from .lifecycle import assign_into, charged_end, tenancy_end_values
from .locks import numbers_lock, reservations_lock, subscription_lock
from .policies import Policies
from .publish import ACTION_EVENTS, numbers_moved_publish
from .results import (
    WRITE_CHUNK,
    Batch,
    ServiceError,
    TransitionResult,
    batches_run,
    require_remark,
    reservations_close,
    system_user,
    timestamps_parse,
    write_numbers,
    write_rows_with_history,
)

S = NumberState
A = Action


def reservations_follow_subscription(*, subscription: Subscription, actor: Any,
                                     now: dt.datetime | None = None) -> int:
    """Charged reservations end with their DID reservation subscription's period.

    A renewal moves their end forward (never earlier than it was); a lapse ends them now,
    so the next expiry sweep releases the numbers. Returns how many numbers changed. The
    caller (subscriptions.services) holds the subscription's lock already.
    """
    now = now or timezone.now()
    charged = Reservation.objects.filter(did_reservation=subscription,
                                         status=ReservationStatus.ACTIVE,
                                         kind=ReservationKind.CHARGED)
    with transaction.atomic():
        numbers = {n.pk: n for n in numbers_lock(list(charged.values_list("number_id", flat=True)))}
        reservations = reservations_lock(charged, numbers)
        if not reservations:
            return 0
        if subscription.status == SubscriptionStatus.ACTIVE:
            new_end = lambda r: charged_end(subscription.current_period_end, r.ends_at)  # noqa: E731
            remark = "DID reservation subscription renewed"
        else:
            new_end = lambda r: min(r.ends_at, now) if r.ends_at else now  # noqa: E731
            remark = f"DID reservation subscription {subscription.status}"
        changed: list[PhoneNumber] = []
        told: list[tuple[str, NumberSnapshot, dict]] = []
        for r in reservations:
            end = new_end(r)
            if end == r.ends_at:
                continue
            r.ends_at = end
            number = numbers.get(r.number_id)
            if number is not None and number.state == S.RESERVED:
                told.append((number.e164, NumberSnapshot.of(number), {"expires_at": end}))
                number.expires_at = end
                changed.append(number)
        if changed:
            write_numbers(changed, fields=["expires_at"], actor=actor, remark=remark, now=now)
        Reservation.objects.bulk_update(reservations, ["ends_at"], batch_size=WRITE_CHUNK)
        renewed = subscription.status == SubscriptionStatus.ACTIVE
        numbers_moved_publish(type=EventType.NUMBER_EXTENDED if renewed else EventType.NUMBER_UPDATED,
                              actor=actor, remark=remark, now=now, moved=told,
                              subscription=subscription,
                              data={"cause": f"did_reservation_{subscription.status}"})
        return len(changed)


def _subscription_numbers_move(*, subscription: Subscription, action: str, actor: Any,
                               remark: str, now: dt.datetime,
                               move: Callable[[Batch, PhoneNumber, str], None]) -> TransitionResult:
    """The one skeleton for a subscription's own numbers following its status: lock those in
    the action's sources (pk order), skip any that moved on since the read, check each
    against the table, let `move` write it. The caller holds the subscription's lock."""
    rule = ALLOWED_TRANSITIONS[action]
    with transaction.atomic():
        batch = Batch(actor=actor, remark=remark, now=now, action=action)
        held = PhoneNumber.objects.filter(subscription=subscription, state__in=rule.sources)
        for n in numbers_lock(held):
            if n.subscription_id != subscription.pk or n.state not in rule.sources:
                continue  # moved on since the read: not this subscription's any more
            if target := batch.check(n, action):
                move(batch, n, target)
        return batch.commit()


def numbers_return_from_subscription(*, subscription: Subscription, cause: str, actor: Any,
                                     now: dt.datetime | None = None,
                                     remark: str = "") -> TransitionResult:
    """A service subscription ended: its numbers (assigned or held) go back to its
    organization, reserved; a number kept for a user stays kept for them.

    The caller (subscriptions.services) holds the subscription's lock already."""
    now = now or timezone.now()
    kind = {
        PolicyCause.SUBSCRIPTION_EXPIRED: ReservationKind.SUBSCRIPTION_EXPIRED,
        PolicyCause.SUBSCRIPTION_TERMINATED: ReservationKind.SUBSCRIPTION_TERMINATED,
    }[PolicyCause(cause)]
    remark = remark or f"subscription {subscription.uuid} {kind.label.split()[-1].lower()}"
    policies = Policies(cause)
    org = subscription.organization

    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        ends = policies.ends(n, batch.now)
        batch.change(n, state=target, subscription=None, organization=org, expires_at=ends)
        batch.open_reservation(n, kind=kind, organization=org, ends_at=ends,
                               reserved_for=n.reserved_for)

    return _subscription_numbers_move(subscription=subscription, action=A.SUBSCRIPTION_ENDED,
                                      actor=actor, remark=remark, now=now, move=move)


def hold_ends(number: PhoneNumber, now: dt.datetime, policies: Policies) -> dt.datetime:
    """When a hold that starts now ends: the number's own hold days, else the policy's."""
    days = number.hold_days if number.hold_days is not None else policies.days(number)
    return now + dt.timedelta(days=days)


def numbers_hold(*, subscription: Subscription, actor: Any, now: dt.datetime | None = None,
                 remark: str = "") -> TransitionResult:
    """The subscription is suspended (JeraSoft: the package is not active): its assigned
    numbers wait in hold, still its own, routing unreachable, until the hold days run out.

    The caller (subscriptions.services) holds the subscription's lock already."""
    now = now or timezone.now()
    policies = Policies(PolicyCause.HOLD)

    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        batch.change(n, state=target, expires_at=hold_ends(n, batch.now, policies))

    return _subscription_numbers_move(
        subscription=subscription, action=A.HOLD, actor=actor, now=now,
        remark=remark or f"subscription {subscription.uuid} suspended", move=move)


def numbers_unhold(*, subscription: Subscription, actor: Any, now: dt.datetime | None = None,
                   remark: str = "") -> TransitionResult:
    """The subscription is active again: its held numbers are assigned to it again (they
    never stopped being its own, so the allowance is not asked again)."""
    now = now or timezone.now()

    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        batch.change(n, state=target, expires_at=None)

    return _subscription_numbers_move(
        subscription=subscription, action=A.UNHOLD, actor=actor, now=now,
        remark=remark or f"subscription {subscription.uuid} reactivated", move=move)


def numbers_onboard(*, subscription: Subscription, actor: Any, now: dt.datetime | None = None,
                    remark: str = "") -> TransitionResult:
    """Assign to an active service subscription the numbers kept for its subscriber
    (available, or reserved by its organization or that organization's partner), in
    number order, within its allowance; the ones past it are refused with that reason.

    The caller (subscriptions.services) holds the subscription's lock already.
    """
    now = now or timezone.now()
    sub = subscription
    if sub.kind != SubscriptionKind.SERVICE or sub.status != SubscriptionStatus.ACTIVE \
            or not sub.subscriber:
        return TransitionResult()
    org = sub.organization
    holders = [i for i in (org.pk, org.parent_id) if i]
    candidates = PhoneNumber.objects.filter(reserved_for=sub.subscriber).filter(
        Q(state=S.AVAILABLE) | Q(state=S.RESERVED, organization_id__in=holders))
    with transaction.atomic():
        batch = Batch(actor=actor, remark=remark or f"onboarded: kept for {sub.subscriber}",
                      now=now, action=A.ONBOARD)
        locked = [n for n in numbers_lock(candidates) if n.reserved_for == sub.subscriber
                  and n.state in ALLOWED_TRANSITIONS[A.ONBOARD].sources]
        assign_into(batch, locked, sub, action=A.ONBOARD)
        return batch.commit()


def numbers_swap(*, subscription: Subscription, old: PhoneNumber, new: PhoneNumber, actor: Any,
                 remark: str, now: dt.datetime | None = None) -> TransitionResult:
    """Swap one assigned number for another, in one transaction: both or neither."""
    remark = require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        sub = subscription_lock(subscription, kind=SubscriptionKind.SERVICE)
        locked = {n.pk: n for n in numbers_lock([old, new])}
        old_n, new_n = locked.get(old.pk), locked.get(new.pk)
        if old_n is None or new_n is None or old_n.pk == new_n.pk:
            raise ServiceError("Swap needs two different existing numbers.")
        old_in = old_n.state == S.ASSIGNED and old_n.subscription_id == sub.pk
        if new_n.state == S.ASSIGNED and new_n.subscription_id == sub.pk:
            if old_in:
                raise ServiceError(f"{new_n.e164} is already assigned to this subscription.")
            if old_n.state == S.RESERVED and old_n.organization_id == sub.organization_id:
                return TransitionResult(unchanged=[old_n, new_n])  # already swapped: a retry
        if not old_in:
            raise ServiceError(f"{old_n.e164} is not assigned to this subscription.")
        batch = Batch(actor=actor, remark=remark, now=now, action=A.SWAP_OUT)
        target = batch.check(old_n, A.SWAP_OUT)
        if target is None:
            raise ServiceError(f"{old_n.e164}: {batch.result.rejected.get(old_n.e164, 'unchanged')}")
        ends = Policies(PolicyCause.SWAPPED_OUT).ends(old_n, now)
        batch.change(old_n, state=target, subscription=None, organization=sub.organization,
                     expires_at=ends)
        batch.open_reservation(old_n, kind=ReservationKind.SWAPPED_OUT,
                               organization=sub.organization, ends_at=ends,
                               reserved_for=old_n.reserved_for)
        assign_into(batch, [new_n], sub)
        if new_n.e164 in batch.result.rejected:
            raise ServiceError(f"{new_n.e164}: {batch.result.rejected[new_n.e164]}")
        # Both rows get one history row each; the reservation of the new number is closed.
        return batch.commit()


# What the sweep reads of each due number besides its rules, to tell its event's before.
SWEEP_TOLD = ("e164", "organization_id", "subscription_id", "expires_at", "reserved_for")
EXPIRE_REMARKS = {
    S.RESERVED: "reservation expired",
    S.LOCKED: "lock expired",
    S.COOLING: "cooling ended",
}


def numbers_holds_end(*, now: dt.datetime | None = None, batch_size: int = 1000) -> int:
    """Holds past their end go to each number's after-hold state (HOLD_END): reserved for
    the organization with the subscription-expired period (a Reservation), available, or
    deleted with reason archived. Committed batches, `skip_locked` like the expiry sweep
    (a reactivation that holds a number's lock wins; the number is skipped)."""
    now = now or timezone.now()
    expired = Policies(PolicyCause.SUBSCRIPTION_EXPIRED)
    actor = system_user()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(PhoneNumber.objects.select_for_update(skip_locked=True)
                       .filter(state=S.HOLD, expires_at__lte=now)
                       .order_by("expires_at", "pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return total
            numbers = list(PhoneNumber.objects.filter(pk__in=ids).order_by("pk"))  # locked above
            orgs = Organization.objects.in_bulk({n.organization_id for n in numbers} - {None})
            batch = Batch(actor=actor, remark="hold ended", now=now, action=A.HOLD_END)
            for n in numbers:
                target = batch.check(n, A.HOLD_END)
                org = orgs.get(n.organization_id) if n.organization_id else None
                if target == S.RESERVED and org is not None:
                    ends = expired.ends(n, now)
                    batch.change(n, state=target, subscription=None, organization=org,
                                 expires_at=ends)
                    batch.open_reservation(n, kind=ReservationKind.SUBSCRIPTION_EXPIRED,
                                           organization=org, ends_at=ends,
                                           reserved_for=n.reserved_for)
                elif target is not None:
                    target = S.AVAILABLE if target == S.RESERVED else target
                    archived = {"delete_reason": DeleteReason.ARCHIVED} if target == S.DELETED else {}
                    batch.change(n, state=target, subscription=None, organization=None,
                                 expires_at=None, **archived)
            total += len(batch.commit().done)


def numbers_expire_due(*, now: dt.datetime | None = None, batch_size: int = 5000,
                       workers: int | None = None) -> int:
    """Release every reservation, lock and cooling period that has ended, and end the holds
    that ran out (numbers_holds_end). Safe to overlap.

    One read names the due numbers (pk order); then committed batches of `batch_size`,
    `workers` at once (settings.SWEEP_WORKERS; PostgreSQL spends most of a batch writing
    the row's indexes, so a second connection uses the second core): each batch locks its
    numbers with one `SELECT … FOR UPDATE SKIP LOCKED` in pk order (the lock order of
    locks.py), re-checked under the lock, so two sweeps never process a number twice and a
    number another service holds is left to the next run. A crash loses at most the
    batches in flight, and a rerun resumes. Legacy permanent locks (no end) never expire.
    Set-wise per batch: one statement writes the numbers with their history rows
    (write_rows_with_history), one closes their reservations, one writes the lock notices,
    and the events follow. Where each goes is the EXPIRE row of ALLOWED_TRANSITIONS.
    """
    now = now or timezone.now()
    total = numbers_holds_end(now=now)
    actor = system_user()
    sources = sorted(ALLOWED_TRANSITIONS[A.EXPIRE].sources)
    due = PhoneNumber.objects.filter(state__in=sources, expires_at__lte=now)
    ids = list(due.order_by("pk").values_list("pk", flat=True))
    decide = _ExpiryDecisions(now)

    def expire(batch: list[int]) -> int:
        with transaction.atomic():
            rows = _due_lock(due, batch, sources=sources, now=now)
            return _expire_batch(rows, decide=decide, actor=actor, now=now) if rows else 0

    batches = [ids[start : start + batch_size] for start in range(0, len(ids), batch_size)]
    return total + batches_run(expire, batches, workers=workers or settings.SWEEP_WORKERS)


SWEEP_READ = ("id", "state", "after_cooling_state", "country", "sku_id", "is_ported_in", *SWEEP_TOLD,
              "visible_to_id")


def _due_lock(due: Any, ids: list[int], *, sources: list[str], now: dt.datetime) -> list[tuple]:
    """Lock the batch's numbers that are still due (re-checked under the lock), in pk order,
    skipping any another transaction holds; their SWEEP_READ values."""
    if connection.vendor != "postgresql":
        return list(due.select_for_update(skip_locked=True).filter(pk__in=ids).order_by("pk")
                    .values_list(*SWEEP_READ))
    columns = ", ".join("expires_at::text" if c == "expires_at" else c for c in SWEEP_READ)
    with bound_cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM inventory_phonenumber WHERE id = ANY(%s::bigint[]) "
                       "AND state = ANY(%s::text[]) AND expires_at <= %s ORDER BY id "
                       "FOR UPDATE SKIP LOCKED", [pg_ids(ids), pg_array(sources), now])
        rows = cursor.fetchall()
    at = SWEEP_READ.index("expires_at")
    ends = timestamps_parse(row[at] for row in rows)
    return [(*row[:at], end, *row[at + 1 :]) for row, end in zip(rows, ends, strict=True)]


class _ExpiryDecisions:
    """Where a due number goes (the EXPIRE row of ALLOWED_TRANSITIONS), decided once per
    kind of number: a reservation's end through cooling when the policy says so."""

    def __init__(self, now: dt.datetime):
        self.now = now
        self.cooling = Policies(PolicyCause.COOLING)
        self.decided: dict[tuple, dict[str, Any]] = {}  # what a kind of due number becomes

    def values(self, state: str, after_cooling: str, country: str, sku_id: int,
               ported: bool, organization_id: int | None,
               subscription_id: int | None) -> dict[str, Any]:
        """The new values of a due number (shared between numbers that end alike: read-only)."""
        key = ((state, country, sku_id, ported) if state == S.RESERVED
               else (state, after_cooling, organization_id, subscription_id))
        if (known := self.decided.get(key)) is not None:
            return known
        now = self.now
        if state == S.RESERVED:  # a tenancy ends: through cooling when the policy says so
            stub = PhoneNumber(country=country, sku_id=sku_id, is_ported_in=ported)
            days = self.cooling.days(stub)
            values = tenancy_end_values(transition_target(A.EXPIRE, state, cooling_days=days),
                                        action=A.EXPIRE, now=now, cooling_days=days)
        else:  # a lock or a cooling period ends: the holder (if any) stays as it is
            values = {"state": transition_target(A.EXPIRE, state, after_cooling=after_cooling),
                      "expires_at": None, "organization": organization_id,
                      "subscription": subscription_id,
                      "after_cooling_state": "" if state == S.COOLING else after_cooling}
        values["state_changed_at"] = now  # every EXPIRE target differs from its source
        self.decided[key] = values
        return values


def _expire_batch(rows: list[tuple], *, decide: _ExpiryDecisions, actor: Any,
                  now: dt.datetime) -> int:
    """One locked batch, written in the lock order: numbers (with history) → reservations
    → notices → events (one per kind of end and 1,000 numbers, with the history's remark)."""
    writes: list[tuple[int, dict[str, Any], str]] = []
    told: dict[str, list[NumberChange]] = defaultdict(list)  # old state → its numbers
    visible: dict[int, int | None] = {}
    afters: dict[tuple, NumberSnapshot] = {}
    for pk, state, after_cooling, country, sku_id, ported, e164, org, sub, expires, kept_for, \
            visible_to in rows:
        values = decide.values(state, after_cooling, country, sku_id, ported, org, sub)
        writes.append((pk, values, EXPIRE_REMARKS[state]))
        visible[pk] = visible_to
        key = (id(values), kept_for, visible_to)
        after = afters.get(key)
        if after is None:
            after = afters[key] = NumberSnapshot(
                values["state"], values["organization"], values["subscription"],
                values["expires_at"], kept_for or "", visible_to)
        told[state].append(NumberChange(e164, NumberSnapshot(state, org, sub, expires, kept_for or "",
                                                             visible_to), after))
    # The events are built in a thread while PostgreSQL writes the batch (EventsDraft).
    drafts = [events_draft(type=ACTION_EVENTS[A.EXPIRE], actor=actor, remark=EXPIRE_REMARKS[S(state)],
                           now=now, numbers_before_after=changes, background=True)
              for state, changes in told.items()]
    write_rows_with_history(writes, actor=actor, now=now)
    closed = reservations_close([pk for pk, state, *_ in rows if state != S.COOLING],
                                status=ReservationStatus.EXPIRED, now=now,
                                returning_kind=ReservationKind.LOCK)
    locks = [(number_id, pk, ends_at, visible[number_id]) for pk, number_id, ends_at in closed]
    if locks:
        notices_write_lock_expired(locks=locks, now=now)
    for draft in drafts:  # last in the lock order
        draft.write()
    return len(writes)
