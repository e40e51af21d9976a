"""Every write to the number inventory. Admin, import, tasks and commands only call these.

Each public function is one transaction: the numbers are locked in primary-key order
(`select_for_update`) before anything is decided, so two people acting on the same
number at once get one success and one clear refusal. Each changed number gets exactly
one history row naming the actor (the system user when there is none) and the remark.
Moves into the state a number already has, by the same cause, are no-ops, so a retried
task or a double click changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from subscriptions.choices import SubscriptionKind, SubscriptionStatus
from subscriptions.models import Organization, Subscription

from .bulk import clone, insert_history, insert_objects, update_from_arrays, update_same_with_history
from .choices import (
    ALLOWED_TRANSITIONS,
    Action,
    DeleteReason,
    ImportJobStatus,
    NumberState,
    PolicyCause,
    ReservationKind,
    ReservationStatus,
)
from .models import ImportJob, LifecyclePolicy, PhoneNumber, Reservation, Sku, Vendor
from .numbers import parse_spec, pattern_q, region_of
from .selectors import existing_e164

S = NumberState
LOCK_CHUNK = 5000
WRITE_CHUNK = 2000
_UNSET: Any = object()


class ServiceError(ValidationError):
    """The request as a whole cannot be done (bad argument); nothing was changed."""


class NoNumberAvailable(ServiceError):
    pass


@dataclass
class TransitionResult:
    done: list[PhoneNumber] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    unchanged: list[PhoneNumber] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.done)} done", f"{len(self.rejected)} refused"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} already so")
        return ", ".join(parts)

    def merge(self, other: TransitionResult) -> TransitionResult:
        self.done.extend(other.done)
        self.rejected.update(other.rejected)
        self.unchanged.extend(other.unchanged)
        return self


# --- shared plumbing -------------------------------------------------------------------


def system_user():
    """The user that history rows name when the system acts (beat, expiry, automation)."""
    user, _ = get_user_model().objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "System"},
    )
    return user


def _actor(actor):
    return actor if actor is not None else system_user()


def _require_remark(remark: str | None) -> str:
    remark = (remark or "").strip()
    if not remark:
        raise ServiceError("A remark is required: say why.")
    return remark


def _ids(numbers: QuerySet | Iterable[PhoneNumber | int | str]) -> list[int]:
    if isinstance(numbers, QuerySet):
        return sorted(numbers.order_by().values_list("pk", flat=True))
    ids: set[int] = set()
    e164s: list[str] = []
    for n in numbers:
        if isinstance(n, PhoneNumber):
            ids.add(n.pk)
        elif isinstance(n, int):
            ids.add(n)
        else:
            e164s.append(str(n))
    for start in range(0, len(e164s), LOCK_CHUNK):
        ids.update(
            PhoneNumber.objects.filter(e164__in=e164s[start : start + LOCK_CHUNK]).values_list(
                "pk", flat=True
            )
        )
    return sorted(ids)


def lock_numbers(numbers) -> list[PhoneNumber]:
    """Lock the rows in primary-key order (so parallel calls cannot deadlock) and reload them."""
    ids = _ids(numbers)
    locked: list[PhoneNumber] = []
    for start in range(0, len(ids), LOCK_CHUNK):
        chunk = ids[start : start + LOCK_CHUNK]
        locked.extend(PhoneNumber.objects.select_for_update().filter(pk__in=chunk).order_by("pk"))
    return locked


class Policies:
    """LifecyclePolicy rows for one cause, loaded once per call; the most specific row wins."""

    DEFAULT_DAYS = {
        PolicyCause.MANUAL: 28,
        PolicyCause.SUBSCRIPTION_EXPIRED: 56,
        PolicyCause.SUBSCRIPTION_TERMINATED: 28,
        PolicyCause.SWAPPED_OUT: 1,
        PolicyCause.LOCK: 28,
        PolicyCause.COOLING: 0,
        PolicyCause.NOTICE_LEAD: 7,
    }

    def __init__(self, cause: str):
        self.cause = cause
        rows = list(LifecyclePolicy.objects.filter(cause=cause))
        self.rows = sorted(rows, key=lambda r: r.specificity, reverse=True)

    def days(self, number: PhoneNumber | None = None) -> int:
        for row in self.rows:
            if number is None:
                if row.specificity == 0:
                    return row.period_days
            elif row.matches(number):
                return row.period_days
        return self.DEFAULT_DAYS[self.cause]

    def ends(self, number: PhoneNumber, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(days=self.days(number))


def policy_days(cause: str, number: PhoneNumber | None = None) -> int:
    return Policies(cause).days(number)


def _not_allowed(number: PhoneNumber, action: str) -> str | None:
    sources, _ = ALLOWED_TRANSITIONS[action]
    if number.state in sources:
        return None
    wanted = " or ".join(sorted(sources))
    label = Action(action).label.lower()
    return f"is {number.state}; {label} needs {wanted}"


class _Batch:
    """Collects the decisions of one call, then writes them set-wise with history."""

    def __init__(self, *, actor, remark: str, now: dt.datetime):
        self.actor = _actor(actor)
        self.remark = remark
        self.now = now
        self.result = TransitionResult()
        self.changed: dict[int, PhoneNumber] = {}
        self.fields: set[str] = set()
        self.close: dict[int, str] = {}  # number id → new status of its active reservation
        self.open: list[Reservation] = []
        self.after_write: list = []

    def refuse(self, number: PhoneNumber, reason: str) -> None:
        self.result.rejected[number.e164] = reason

    def keep(self, number: PhoneNumber) -> None:
        self.result.unchanged.append(number)

    def change(self, number: PhoneNumber, **values) -> None:
        if "state" in values and values["state"] != number.state:
            values["state_changed_at"] = self.now
        for name, value in values.items():
            setattr(number, name, value)
        self.fields.update(values)
        self.changed[number.pk] = number

    def close_reservation(self, number: PhoneNumber, status: str) -> None:
        self.close[number.pk] = status

    def open_reservation(self, number: PhoneNumber, *, kind: str, ends_at, organization=None,
                         reserved_for: str = "", did_reservation=None) -> Reservation:
        reservation = Reservation(
            number=number,
            kind=kind,
            organization=organization,
            reserver_name=organization.name if organization else "",
            notice_email=organization.notice_email if organization else "",
            reserved_for=reserved_for or "",
            starts_at=self.now,
            ends_at=ends_at,
            did_reservation=did_reservation,
            status=ReservationStatus.ACTIVE,
            remark=self.remark,
            created_by=self.actor if self.actor.username != settings.SYSTEM_USERNAME else None,
        )
        self.open.append(reservation)
        return reservation

    def commit(self) -> TransitionResult:
        by_status: dict[str, list[int]] = defaultdict(list)
        for number_id, status in self.close.items():
            by_status[status].append(number_id)
        for status, ids in by_status.items():
            for start in range(0, len(ids), WRITE_CHUNK):
                Reservation.objects.filter(
                    number_id__in=ids[start : start + WRITE_CHUNK], status=ReservationStatus.ACTIVE
                ).update(status=status, closed_at=self.now)
        changed = list(self.changed.values())
        if changed:
            write_numbers(changed, fields=self.fields, actor=self.actor, remark=self.remark,
                          now=self.now)
        if self.open:
            insert_objects(self.open)
            # One that already ends within the notice lead time gets its notice in this
            # transaction (e.g. a one-day swap-out), not 15 minutes later from beat.
            from notifications.services import notices_for_new_reservations

            notices_for_new_reservations(reservations=self.open, now=self.now)
        for callback in self.after_write:
            callback()
        self.result.done = changed
        return self.result


def write_numbers(numbers: Sequence[PhoneNumber], *, fields: Iterable[str], actor, remark: str,
                  now: dt.datetime) -> None:
    """Persist in-memory changes set-wise and write one history row per number.

    Numbers that share the new values (a bulk action's are mostly the same) are written
    by one statement per chunk that updates them and copies each updated row into the
    history table with the actor and the remark (on PostgreSQL one `UPDATE … RETURNING`
    feeding an `INSERT`). simple-history does not see `update()`, so the history rows are
    written here, in the same transaction. Values that differ per number (an import's
    notes) go in one `UPDATE … FROM unnest(…)` per chunk instead.
    """
    names = sorted({PhoneNumber._meta.get_field(f).attname for f in fields})
    user_id = _actor(actor).pk
    groups: dict[tuple, list[int]] = defaultdict(list)
    for number in numbers:
        number.updated_at = now
        groups[tuple(getattr(number, name) for name in names)].append(number.pk)
    if len(groups) > 20 and update_from_arrays(PhoneNumber, numbers, [*names, "updated_at"],
                                               chunk=10 * WRITE_CHUNK):
        insert_history(numbers, history_type="~", user_id=user_id, reason=remark, date=now)
        return
    for values, ids in groups.items():
        update_same_with_history(PhoneNumber, ids, dict(zip(names, values, strict=True)),
                                 user_id=user_id, reason=remark, date=now, chunk=WRITE_CHUNK)


def _active_reservations(numbers: Iterable[PhoneNumber]) -> dict[int, Reservation]:
    ids = [n.pk for n in numbers]
    found: dict[int, Reservation] = {}
    for start in range(0, len(ids), LOCK_CHUNK):
        for r in Reservation.objects.filter(
            number_id__in=ids[start : start + LOCK_CHUNK], status=ReservationStatus.ACTIVE
        ):
            found[r.number_id] = r
    return found


def _org_names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    return dict(Organization.objects.filter(pk__in=wanted).values_list("pk", "name"))


def _release_values(number: PhoneNumber, now: dt.datetime, cooling: Policies) -> dict:
    """Where a number goes when its tenancy ends: cooling when the policy says so."""
    days = cooling.days(number)
    common = {"organization": None, "subscription": None, "reserved_for": ""}
    if days > 0:
        return {**common, "state": S.COOLING, "expires_at": now + dt.timedelta(days=days),
                "after_cooling_state": S.AVAILABLE}
    return {**common, "state": S.AVAILABLE, "expires_at": None, "after_cooling_state": ""}


def _resolve(model, value, field_name: str, label: str):
    if value is None or isinstance(value, model):
        return value
    try:
        return model.objects.get(**{field_name: value})
    except model.DoesNotExist:
        raise ServiceError(f"Unknown {label}: {value}") from None


# --- add -------------------------------------------------------------------------------

NUMBER_ATTRS = {"voice", "sms", "fax", "routing", "is_golden", "is_ported_in", "visible_to",
                "tags", "notes"}


def number_add(*, numbers: str | list[str], vendor: Vendor | str, sku: Sku | str,
               country: str | None = None, actor, state: str = S.AVAILABLE, remark: str = "",
               max_items: int | None = None, max_range: int | None = None,
               expires_at: Any = _UNSET, now: dt.datetime | None = None, dry_run: bool = False,
               **attrs) -> TransitionResult:
    """Create numbers (singles and inclusive ranges). Existing or invalid ones are refused.

    `state` is available or locked; a lock gets the policy period unless `expires_at`
    is given (None = a legacy permanent lock). `dry_run` decides without writing: `done`
    then holds the unsaved numbers that would be created.
    """
    now = now or timezone.now()
    if state not in (S.AVAILABLE, S.LOCKED):
        raise ServiceError(f"New numbers start available or locked, not {state}.")
    unknown = set(attrs) - NUMBER_ATTRS
    if unknown:
        raise ServiceError(f"Unknown number attributes: {', '.join(sorted(unknown))}")
    vendor = _resolve(Vendor, vendor, "name", "vendor")
    sku = _resolve(Sku, sku, "code", "SKU")
    if "tags" in attrs:
        attrs["tags"] = PhoneNumber.tags_to_field(attrs["tags"])
    for capability in ("voice", "sms", "fax"):
        attrs.setdefault(capability, getattr(sku, capability))
    remark = (remark or "").strip() or "added"
    parsed = parse_spec(numbers, country=country, max_items=max_items, max_range=max_range)
    result = TransitionResult(rejected=dict(parsed.errors))
    existing = existing_e164(parsed.numbers)
    for e164 in existing:
        result.rejected[e164] = "already exists"
    user = _actor(actor)
    lock_policy = Policies(PolicyCause.LOCK) if state == S.LOCKED else None
    template = PhoneNumber(vendor=vendor, sku=sku, state=state, state_changed_at=now,
                           created_at=now, updated_at=now, **attrs)
    objs = []
    for e164 in parsed.numbers:
        if e164 in existing:
            continue
        number = clone(template, e164=e164, country=region_of(e164))
        if lock_policy is not None:
            number.expires_at = lock_policy.ends(number, now) if expires_at is _UNSET else expires_at
        objs.append(number)
    if dry_run:  # the add form's preview: the same decisions, nothing written
        result.done = objs
        return result
    try:
        with transaction.atomic():
            insert_objects(objs)
            insert_history(objs, history_type="+", user_id=user.pk, reason=remark, date=now)
            if lock_policy is not None:
                insert_objects(
                    [
                        Reservation(number=n, kind=ReservationKind.LOCK, starts_at=now,
                                    ends_at=n.expires_at, remark=remark,
                                    created_by=actor, status=ReservationStatus.ACTIVE)
                        for n in objs
                    ]
                )
    except IntegrityError:
        raise ServiceError(
            "Some of these numbers were added by someone else a moment ago; nothing was "
            "added. Try again."
        ) from None
    result.done = objs
    return result


# --- the life cycle --------------------------------------------------------------------


def number_reserve(*, numbers, organization: Organization, actor, remark: str,
                   reserved_for: str | None = None, now=None) -> TransitionResult:
    remark = _require_remark(remark)
    if organization is None:
        raise ServiceError("Reserve needs an organization.")
    reserved_for = (reserved_for or "").strip()
    now = now or timezone.now()
    with transaction.atomic():
        batch = _Batch(actor=actor, remark=remark, now=now)
        policies = Policies(PolicyCause.MANUAL)
        locked = lock_numbers(numbers)
        names = _org_names(n.organization_id for n in locked)
        for n in locked:
            if n.state == S.RESERVED:
                if n.organization_id == organization.pk and n.reserved_for == reserved_for:
                    batch.keep(n)
                else:
                    holder = names.get(n.organization_id, "someone else")
                    batch.refuse(n, f"already reserved by {holder}")
                continue
            if reason := _not_allowed(n, Action.RESERVE):
                batch.refuse(n, reason)
                continue
            ends = policies.ends(n, now)
            batch.change(n, state=S.RESERVED, organization=organization, subscription=None,
                         reserved_for=reserved_for, expires_at=ends, after_cooling_state="")
            batch.open_reservation(n, kind=ReservationKind.MANUAL, organization=organization,
                                   reserved_for=reserved_for, ends_at=ends)
        return batch.commit()


def number_lock(*, numbers, actor, remark: str, now=None) -> TransitionResult:
    remark = _require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        batch = _Batch(actor=actor, remark=remark, now=now)
        policies = Policies(PolicyCause.LOCK)
        for n in lock_numbers(numbers):
            if n.state == S.LOCKED:
                batch.keep(n)
            elif reason := _not_allowed(n, Action.LOCK):
                batch.refuse(n, reason)
            else:
                ends = policies.ends(n, now)
                batch.change(n, state=S.LOCKED, expires_at=ends)
                batch.open_reservation(n, kind=ReservationKind.LOCK, ends_at=ends)
        return batch.commit()


def number_unlock(*, numbers, actor, remark: str, now=None) -> TransitionResult:
    remark = _require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        batch = _Batch(actor=actor, remark=remark, now=now)
        for n in lock_numbers(numbers):
            if n.state == S.AVAILABLE:
                batch.keep(n)
            elif reason := _not_allowed(n, Action.UNLOCK):
                batch.refuse(n, reason)
            else:
                batch.change(n, state=S.AVAILABLE, expires_at=None)
                batch.close_reservation(n, ReservationStatus.RELEASED)
        return batch.commit()


def _lock_subscription(subscription: Subscription, *, kind: str) -> Subscription:
    """Reload the subscription under a row lock: its status and allowance are decided on."""
    if subscription is None:
        raise ServiceError("A subscription is required.")
    sub = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("organization")
        .filter(pk=subscription.pk)
        .first()
    )
    if sub is None:
        raise ServiceError("Unknown subscription.")
    if sub.kind != kind:
        raise ServiceError(
            f"Subscription {sub.uuid} is a {sub.get_kind_display()} subscription; this needs "
            f"a {SubscriptionKind(kind).label} subscription."
        )
    if sub.status != SubscriptionStatus.ACTIVE:
        raise ServiceError(f"Subscription {sub.uuid} is {sub.status}, not active.")
    return sub


def _assign_refusal(n: PhoneNumber, sub: Subscription, names: dict[int, str]) -> str | None:
    """Who may take a reserved number: the reserver, a partner's customers, the named user."""
    if n.state == S.RESERVED:
        org = sub.organization
        if n.organization_id not in (org.pk, org.parent_id):
            holder = names.get(n.organization_id, "another organization")
            return f"reserved by {holder}; the subscription belongs to {org.name}"
        if n.reserved_for and n.reserved_for != sub.subscriber:
            return f"reserved for {n.reserved_for}; the subscription's subscriber is " + (
                sub.subscriber or "not set"
            )
    elif n.state == S.AVAILABLE and n.visible_to_id and n.visible_to_id != sub.organization.partner_id:
        return "visible only to another partner"
    return None


def _assign_into(batch: _Batch, numbers: list[PhoneNumber], sub: Subscription) -> None:
    names = _org_names(n.organization_id for n in numbers)
    room = None
    if sub.number_allowance is not None:
        # Numbers leaving the subscription in this same batch (a swap) free their place.
        leaving = [pk for pk, n in batch.changed.items() if n.subscription_id != sub.pk]
        held = (PhoneNumber.objects.filter(subscription=sub, state=S.ASSIGNED)
                .exclude(pk__in=leaving).count())
        room = sub.number_allowance - held
    for n in numbers:
        if n.state == S.ASSIGNED and n.subscription_id == sub.pk:
            batch.keep(n)
            continue
        if reason := _not_allowed(n, Action.ASSIGN) or _assign_refusal(n, sub, names):
            batch.refuse(n, reason)
            continue
        if room is not None:
            if room <= 0:
                batch.refuse(n, f"allowance of {sub.number_allowance} numbers reached")
                continue
            room -= 1
        if n.state == S.RESERVED:
            batch.close_reservation(n, ReservationStatus.ASSIGNED)
        batch.change(n, state=S.ASSIGNED, subscription=sub, organization=sub.organization,
                     expires_at=None, after_cooling_state="")


def number_assign(*, numbers, subscription: Subscription, actor, remark: str,
                  now=None) -> TransitionResult:
    remark = _require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        sub = _lock_subscription(subscription, kind=SubscriptionKind.SERVICE)
        batch = _Batch(actor=actor, remark=remark, now=now)
        _assign_into(batch, lock_numbers(numbers), sub)
        return batch.commit()


def number_release(*, numbers, actor, remark: str, now=None) -> TransitionResult:
    remark = _require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        batch = _Batch(actor=actor, remark=remark, now=now)
        cooling = Policies(PolicyCause.COOLING)
        for n in lock_numbers(numbers):
            if n.state in (S.AVAILABLE, S.COOLING):  # already released (cooling is on)
                batch.keep(n)
            elif reason := _not_allowed(n, Action.RELEASE):
                batch.refuse(n, reason)
            else:
                batch.change(n, **_release_values(n, now, cooling))
                batch.close_reservation(n, ReservationStatus.RELEASED)
        return batch.commit()


def number_extend(*, numbers, did_reservation: Subscription, actor, remark: str = "",
                  now=None) -> TransitionResult:
    """Turn a free reservation into a charged one that lasts as long as the DID subscription."""
    now = now or timezone.now()
    remark = (remark or "").strip() or "extended under a DID reservation subscription"
    with transaction.atomic():
        sub = _lock_subscription(did_reservation, kind=SubscriptionKind.DID_RESERVATION)
        batch = _Batch(actor=actor, remark=remark, now=now)
        locked = lock_numbers(numbers)
        active = _active_reservations(locked)
        names = _org_names(n.organization_id for n in locked)
        for n in locked:
            current = active.get(n.pk)
            if reason := _not_allowed(n, Action.EXTEND):
                batch.refuse(n, reason)
                continue
            if n.organization_id != sub.organization_id:
                holder = names.get(n.organization_id, "another organization")
                batch.refuse(n, f"reserved by {holder}; the DID reservation subscription "
                                f"belongs to {sub.organization.name}")
                continue
            if current and current.kind == ReservationKind.CHARGED and current.did_reservation_id == sub.pk:
                batch.keep(n)
                continue
            free_end = current.ends_at if current else n.expires_at
            ends = _charged_end(sub.current_period_end, free_end)
            batch.close_reservation(n, ReservationStatus.EXTENDED)
            batch.change(n, expires_at=ends)
            batch.open_reservation(n, kind=ReservationKind.CHARGED, ends_at=ends,
                                   organization=sub.organization, reserved_for=n.reserved_for,
                                   did_reservation=sub)
        return batch.commit()


def _charged_end(period_end, floor):
    if period_end is None:
        return None
    if floor is None:
        return period_end
    return max(period_end, floor)


def reservations_follow_subscription(*, subscription: Subscription, actor, now=None) -> int:
    """Charged reservations end with their DID reservation subscription's period.

    A renewal moves their end forward (never earlier than it was); a lapse ends them now,
    so the next expiry sweep releases the numbers. Returns how many numbers changed.
    """
    now = now or timezone.now()
    charged = Reservation.objects.filter(did_reservation=subscription,
                                         status=ReservationStatus.ACTIVE,
                                         kind=ReservationKind.CHARGED)
    with transaction.atomic():
        # Numbers first, then their reservations: the order every other service locks in,
        # so a renewal racing a release cannot deadlock.
        numbers = {n.pk: n for n in lock_numbers(list(charged.values_list("number_id", flat=True)))}
        reservations = list(
            charged.select_for_update().filter(number_id__in=list(numbers)).order_by("number_id")
        )
        if not reservations:
            return 0
        if subscription.status == SubscriptionStatus.ACTIVE:
            new_end = lambda r: _charged_end(subscription.current_period_end, r.ends_at)  # noqa: E731
            remark = "DID reservation subscription renewed"
        else:
            new_end = lambda r: min(r.ends_at, now) if r.ends_at else now  # noqa: E731
            remark = f"DID reservation subscription {subscription.status}"
        changed: list[PhoneNumber] = []
        for r in reservations:
            end = new_end(r)
            if end == r.ends_at:
                continue
            r.ends_at = end
            number = numbers.get(r.number_id)
            if number is not None and number.state == S.RESERVED:
                number.expires_at = end
                changed.append(number)
        Reservation.objects.bulk_update(reservations, ["ends_at"], batch_size=WRITE_CHUNK)
        if changed:
            write_numbers(changed, fields=["expires_at"], actor=actor, remark=remark, now=now)
        return len(changed)


def number_delete(*, numbers, reason: str, actor, remark: str, now=None) -> TransitionResult:
    remark = _require_remark(remark)
    if reason not in DeleteReason.values:
        raise ServiceError(
            f"Unknown delete reason {reason!r}; one of: {', '.join(DeleteReason.values)}."
        )
    now = now or timezone.now()
    with transaction.atomic():
        batch = _Batch(actor=actor, remark=remark, now=now)
        for n in lock_numbers(numbers):
            if n.state == S.DELETED:
                batch.keep(n)
            elif refusal := _not_allowed(n, Action.DELETE):
                batch.refuse(n, refusal)
            else:
                if n.state == S.LOCKED:
                    batch.close_reservation(n, ReservationStatus.RELEASED)
                batch.change(n, state=S.DELETED, delete_reason=reason, expires_at=None)
        return batch.commit()


def number_recover(*, numbers, actor, remark: str, now=None) -> TransitionResult:
    remark = _require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        batch = _Batch(actor=actor, remark=remark, now=now)
        for n in lock_numbers(numbers):
            if n.state == S.AVAILABLE:
                batch.keep(n)
            elif reason := _not_allowed(n, Action.RECOVER):
                batch.refuse(n, reason)
            else:
                batch.change(n, state=S.AVAILABLE, delete_reason="", expires_at=None)
        return batch.commit()


# Descriptive attributes ops may mass-edit. Never the state or the tenancy fields: those
# move only through the life-cycle services above.
EDITABLE_ATTRS = ("tags", "notes", "sku", "vendor", "routing", "voice", "sms", "fax", "is_golden",
                  "is_ported_in", "visible_to")


def _clean_attribute_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(EDITABLE_ATTRS) - {"add_tags", "remove_tags"}
    if unknown:
        raise ServiceError(
            f"These fields cannot be edited here: {', '.join(sorted(unknown))}. The state and "
            "the holder change only through the life-cycle actions."
        )
    if not changes:
        raise ServiceError("Nothing to change.")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("vendor", "sku"):
            if value in (None, ""):
                raise ServiceError(f"A number needs a {name}; it cannot be cleared.")
            model, key = (Vendor, "name") if name == "vendor" else (Sku, "code")
            value = _resolve(model, value, key, name)
        elif name == "visible_to":
            if value not in (None, ""):
                value = _resolve(Organization, value, "uuid", "organization")
                if not value.is_partner:
                    raise ServiceError(f"Visible to must name a partner; {value.name} is a customer.")
            else:
                value = None
        elif name in ("voice", "sms", "fax", "is_golden", "is_ported_in"):
            value = bool(value)
        elif name == "tags":
            value = PhoneNumber.tags_to_field(value or "")
        elif name in ("add_tags", "remove_tags"):
            value = PhoneNumber.tags_to_field(value or "")
            value = [t for t in value.split(";") if t]
        else:  # routing, notes
            value = (value or "").strip()
        values[name] = value
    return values


def number_update_attributes(*, numbers, changes: dict[str, Any], actor, remark: str,
                             now=None) -> TransitionResult:
    """Mass edit of descriptive attributes (EDITABLE_ATTRS), never the state.

    `changes` maps a field to its new value; `add_tags` / `remove_tags` edit each number's
    tag set instead of replacing it. A number whose values are already so is left alone
    (no history row); every changed number gets one history row with the remark.
    """
    remark = _require_remark(remark)
    values = _clean_attribute_changes(changes)
    add_tags = values.pop("add_tags", [])
    remove_tags = set(values.pop("remove_tags", []))
    now = now or timezone.now()
    with transaction.atomic():
        batch = _Batch(actor=actor, remark=remark, now=now)
        for n in lock_numbers(numbers):
            new: dict[str, Any] = {}
            for name, value in values.items():
                field_ = PhoneNumber._meta.get_field(name)
                current = getattr(n, field_.attname)
                wanted = value.pk if field_.is_relation and value is not None else value
                if current != wanted:
                    new[name] = value
            if add_tags or remove_tags:
                tags = [t for t in set(PhoneNumber.tags_to_field(new.get("tags", n.tags)).split(";"))
                        | set(add_tags) if t and t not in remove_tags]
                tags_value = PhoneNumber.tags_to_field(tags)
                if tags_value != n.tags:
                    new["tags"] = tags_value
                else:
                    new.pop("tags", None)
            if new:
                batch.change(n, **new)
            else:
                batch.keep(n)
        return batch.commit()


def number_next_available(*, subscription: Subscription, actor, remark: str, now=None,
                          **filters) -> PhoneNumber:
    """Assign the first free number that matches; parallel callers never get the same one.

    `skip_locked` makes each caller pass over rows another is taking. Golden numbers,
    numbers held for someone and numbers visible only to another partner are never picked.
    `pattern=` takes a search pattern (see inventory.numbers.pattern_q).
    """
    remark = _require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        sub = _lock_subscription(subscription, kind=SubscriptionKind.SERVICE)
        qs = PhoneNumber.objects.filter(state=S.AVAILABLE, is_golden=False, reserved_for="")
        qs = qs.filter(Q(visible_to__isnull=True) | Q(visible_to_id=sub.organization.partner_id))
        pattern = filters.pop("pattern", None)
        if pattern:
            qs = qs.filter(pattern_q(pattern))
        number = qs.filter(**filters).select_for_update(skip_locked=True).order_by("pk").first()
        if number is None:
            raise NoNumberAvailable("No available number matches.")
        batch = _Batch(actor=actor, remark=remark, now=now)
        _assign_into(batch, [number], sub)
        result = batch.commit()
        if result.rejected:
            raise ServiceError(f"{number.e164}: {result.rejected[number.e164]}")
        return result.done[0]


# --- automatic moves -------------------------------------------------------------------


def numbers_return_from_subscription(*, subscription: Subscription, cause: str, actor,
                                     now=None, remark: str = "") -> TransitionResult:
    """A service subscription ended: its numbers go back to its organization, reserved."""
    now = now or timezone.now()
    kind = {
        PolicyCause.SUBSCRIPTION_EXPIRED: ReservationKind.SUBSCRIPTION_EXPIRED,
        PolicyCause.SUBSCRIPTION_TERMINATED: ReservationKind.SUBSCRIPTION_TERMINATED,
    }[cause]
    remark = remark or f"subscription {subscription.uuid} {kind.label.split()[-1].lower()}"
    with transaction.atomic():
        batch = _Batch(actor=actor, remark=remark, now=now)
        policies = Policies(cause)
        org = subscription.organization
        assigned = PhoneNumber.objects.filter(subscription=subscription, state=S.ASSIGNED)
        for n in lock_numbers(assigned):
            if n.subscription_id != subscription.pk or n.state != S.ASSIGNED:
                continue
            ends = policies.ends(n, now)
            batch.change(n, state=S.RESERVED, subscription=None, organization=org,
                         expires_at=ends)
            batch.open_reservation(n, kind=kind, organization=org, ends_at=ends,
                                   reserved_for=n.reserved_for)
        return batch.commit()


def numbers_swap(*, subscription: Subscription, old: PhoneNumber, new: PhoneNumber, actor,
                 remark: str, now=None) -> TransitionResult:
    """Swap one assigned number for another, in one transaction: both or neither."""
    remark = _require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        sub = _lock_subscription(subscription, kind=SubscriptionKind.SERVICE)
        locked = {n.pk: n for n in lock_numbers([old, new])}
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
        batch = _Batch(actor=actor, remark=remark, now=now)
        ends = Policies(PolicyCause.SWAPPED_OUT).ends(old_n, now)
        batch.change(old_n, state=S.RESERVED, subscription=None, organization=sub.organization,
                     expires_at=ends)
        batch.open_reservation(old_n, kind=ReservationKind.SWAPPED_OUT,
                               organization=sub.organization, ends_at=ends,
                               reserved_for=old_n.reserved_for)
        _assign_into(batch, [new_n], sub)
        if new_n.e164 in batch.result.rejected:
            raise ServiceError(f"{new_n.e164}: {batch.result.rejected[new_n.e164]}")
        # Both rows get one history row each; the reservation of the new number is closed.
        return batch.commit()


EXPIRE_REMARKS = {
    S.RESERVED: "reservation expired",
    S.LOCKED: "lock expired",
    S.COOLING: "cooling ended",
}


def numbers_expire_due(*, now=None, batch_size: int = 5000) -> int:
    """Release every reservation, lock and cooling period that has ended. Safe to overlap.

    Works in committed batches: a crash loses at most the batch in flight, and a rerun
    resumes. Rows another sweep holds are skipped (`skip_locked`), so two sweeps never
    process a number twice. Legacy permanent locks (no end) never expire. Set-wise: the
    numbers that end alike get one UPDATE and their history rows are copied in the
    database (100,000 due numbers in a few seconds).
    """
    from notifications.services import notices_create_lock_expired

    now = now or timezone.now()
    total = 0
    cooling = Policies(PolicyCause.COOLING)
    released: dict[tuple, dict] = {}  # (country, sku, ported-in) → where a reservation goes
    actor = system_user()
    while True:
        with transaction.atomic():
            # One query takes the batch: skip_locked never waits, so the order (oldest end
            # first) cannot deadlock, and rows held by another sweep are skipped.
            rows = list(
                PhoneNumber.objects.select_for_update(skip_locked=True)
                .filter(state__in=list(EXPIRE_REMARKS), expires_at__lte=now)
                .order_by("expires_at", "pk")
                .values_list("pk", "state", "after_cooling_state", "country", "sku_id",
                             "is_ported_in", "visible_to_id")[:batch_size]
            )
            if not rows:
                return total
            # (old state, new values) → ids: numbers that end alike are written together.
            groups: dict[tuple, list[int]] = defaultdict(list)
            lock_ids: list[int] = []
            for pk, state, after_cooling, country, sku_id, ported, _ in rows:
                if state == S.COOLING:
                    values = {"state": after_cooling or S.AVAILABLE, "expires_at": None,
                              "after_cooling_state": ""}
                elif state == S.LOCKED:
                    values = {"state": S.AVAILABLE, "expires_at": None}
                    lock_ids.append(pk)
                else:  # reserved: back to the pool, through cooling when the policy says so
                    key = (country, sku_id, ported)
                    if key not in released:
                        stub = PhoneNumber(country=country, sku_id=sku_id, is_ported_in=ported)
                        released[key] = _release_values(stub, now, cooling)
                    values = dict(released[key])
                if values["state"] != state:
                    values["state_changed_at"] = now
                groups[(state, tuple(sorted(values.items())))].append(pk)
            locks = {
                r.number_id: r
                for r in Reservation.objects.filter(number_id__in=lock_ids, status=ReservationStatus.ACTIVE)
            }
            ending = [pk for pk, state, *_ in rows if state != S.COOLING]
            for start in range(0, len(ending), WRITE_CHUNK):
                Reservation.objects.filter(
                    number_id__in=ending[start : start + WRITE_CHUNK], status=ReservationStatus.ACTIVE
                ).update(status=ReservationStatus.EXPIRED, closed_at=now)
            for (state, values), ids in groups.items():
                update_same_with_history(PhoneNumber, ids, dict(values), user_id=actor.pk,
                                         reason=EXPIRE_REMARKS[state], date=now, chunk=WRITE_CHUNK)
                total += len(ids)
            if locks:
                visible = {pk: visible_to for pk, *_, visible_to in rows}
                notices_create_lock_expired(
                    pairs=[(PhoneNumber(pk=pk, visible_to_id=visible[pk]), r) for pk, r in locks.items()],
                    now=now,
                )


# --- import ------------------------------------------------------------------------------
# inventory.imports reads and checks the file; these rules decide what each row may change.

IMPORT_STATES = (S.AVAILABLE, S.RESERVED, S.ASSIGNED, S.LOCKED)


@dataclass(slots=True)
class ImportRow:
    """One checked row of an import file.

    `attrs` holds only the descriptive columns the file has (attname → value). The tenancy
    columns (`state`, `organization`, `subscription`, `reserved_for`, `expires_at`) are
    applied through the life-cycle rules, never written as plain values.
    """

    line: int
    e164: str
    country: str
    attrs: dict[str, Any]
    state: str | None = None
    organization: Organization | None = None
    subscription: Subscription | None = None
    reserved_for: str | None = None
    expires_at: dt.datetime | None = None


@dataclass
class ImportOutcome:
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, reason)


@dataclass
class _Move:
    values: dict[str, Any] = field(default_factory=dict)
    reservation: dict[str, Any] | None = None
    close: str | None = None  # new status of the active reservation
    refusal: tuple[str, str] | None = None


class _ImportRules:
    """What a row may do to a number's state: only moves that start from available.

    An import may reserve, lock or assign an available number (the admin's rules and
    policies apply) and leaves numbers already in the row's state alone. It never
    releases, unlocks, unassigns, deletes or recovers: those need a person and a remark.
    """

    # An import row may only do what its importer could do by hand in the admin.
    PERMISSIONS = {S.RESERVED: "reserve_number", S.LOCKED: "lock_number", S.ASSIGNED: "assign_number"}

    def __init__(self, *, now: dt.datetime, names: dict[int, str], actor=None):
        self.now = now
        self.names = names
        self.actor = actor
        self._policies: dict[str, Policies] = {}
        self._subs: dict[int, tuple[Subscription | None, str]] = {}
        self._room: dict[int, int | None] = {}

    def _policy(self, cause: str) -> Policies:
        if cause not in self._policies:
            self._policies[cause] = Policies(cause)
        return self._policies[cause]

    def _subscription(self, subscription: Subscription) -> tuple[Subscription | None, str]:
        if subscription.pk not in self._subs:
            try:
                sub = _lock_subscription(subscription, kind=SubscriptionKind.SERVICE)
                self._subs[subscription.pk] = (sub, "")
                if sub.number_allowance is not None:
                    held = PhoneNumber.objects.filter(subscription=sub, state=S.ASSIGNED).count()
                    self._room[sub.pk] = sub.number_allowance - held
                else:
                    self._room[sub.pk] = None
            except ServiceError as exc:
                self._subs[subscription.pk] = (None, " ".join(exc.messages))
        return self._subs[subscription.pk]

    @staticmethod
    def may_change(row: ImportRow, n: PhoneNumber) -> bool:
        """Cheap test on an unlocked row: could this row change (or be refused for) n?"""
        if any(getattr(n, name) != value for name, value in row.attrs.items()):
            return True
        if not row.state:
            return False
        if row.state != n.state:
            return True
        if row.organization is not None and n.organization_id != row.organization.pk:
            return True
        if row.subscription is not None and n.subscription_id != row.subscription.pk:
            return True
        return row.reserved_for is not None and row.state == S.RESERVED and \
            n.reserved_for != row.reserved_for

    def move(self, n: PhoneNumber, row: ImportRow) -> _Move:
        target = row.state
        if not target:
            return _Move()
        if target == n.state:
            return self._same_state(n, row)
        if target not in IMPORT_STATES:
            return _Move(refusal=("state", f"{target} cannot be set by an import"))
        if refusal := self._permission_refusal(target):
            return _Move(refusal=("state", refusal))
        if target == S.AVAILABLE:
            return _Move(refusal=("state", f"is {n.state}; an import does not release, unlock, "
                                           "unassign or recover numbers (use the admin actions)"))
        if target == S.RESERVED:
            return self._reserve(n, row)
        if target == S.LOCKED:
            if reason := _not_allowed(n, Action.LOCK):
                return _Move(refusal=("state", reason))
            # No end in the file: a legacy permanent lock, which never expires by itself.
            return _Move(values={"state": S.LOCKED, "expires_at": row.expires_at},
                         reservation={"kind": ReservationKind.LOCK, "ends_at": row.expires_at})
        return self._assign(n, row)

    def _permission_refusal(self, target: str) -> str | None:
        """The command line (no user, or the system user) is trusted; a person needs the
        same permission as the admin action."""
        codename = self.PERMISSIONS.get(target)
        actor = self.actor
        if codename is None or actor is None or actor.username == settings.SYSTEM_USERNAME:
            return None
        if actor.has_perm(f"inventory.{codename}"):
            return None
        return f"you may not set numbers {target} (needs the permission inventory.{codename})"

    def _same_state(self, n: PhoneNumber, row: ImportRow) -> _Move:
        if n.state == S.RESERVED:
            org = row.organization
            wrong_org = org is not None and n.organization_id != org.pk
            wrong_for = row.reserved_for is not None and n.reserved_for != row.reserved_for
            if wrong_org or wrong_for:
                holder = self.names.get(n.organization_id, "another organization")
                held_for = f" for {n.reserved_for}" if n.reserved_for else ""
                return _Move(refusal=("state", f"already reserved by {holder}{held_for}"))
        if n.state == S.ASSIGNED and row.subscription is not None \
                and n.subscription_id != row.subscription.pk:
            return _Move(refusal=("subscription", "assigned to another subscription; an import "
                                                  "does not move numbers between subscriptions"))
        return _Move()

    def _reserve(self, n: PhoneNumber, row: ImportRow) -> _Move:
        org = row.organization
        if org is None:
            return _Move(refusal=("organization", "a reserved row needs the organization "
                                                  "(uuid or name)"))
        if reason := _not_allowed(n, Action.RESERVE):
            return _Move(refusal=("state", reason))
        ends = row.expires_at or self._policy(PolicyCause.MANUAL).ends(n, self.now)
        reserved_for = row.reserved_for or ""
        return _Move(
            values={"state": S.RESERVED, "organization": org, "subscription": None,
                    "reserved_for": reserved_for, "expires_at": ends, "after_cooling_state": ""},
            reservation={"kind": ReservationKind.MANUAL, "organization": org,
                         "reserved_for": reserved_for, "ends_at": ends},
        )

    def _assign(self, n: PhoneNumber, row: ImportRow) -> _Move:
        if row.subscription is None:
            return _Move(refusal=("subscription", "an assigned row needs the subscription (uuid)"))
        sub, reason = self._subscription(row.subscription)
        if sub is None:
            return _Move(refusal=("subscription", reason))
        if reason := _not_allowed(n, Action.ASSIGN) or _assign_refusal(n, sub, self.names):
            return _Move(refusal=("state", reason))
        room = self._room.get(sub.pk)
        if room is not None:
            if room <= 0:
                return _Move(refusal=("subscription",
                                      f"allowance of {sub.number_allowance} numbers reached"))
            self._room[sub.pk] = room - 1
        return _Move(
            values={"state": S.ASSIGNED, "subscription": sub, "organization": sub.organization,
                    "expires_at": None, "after_cooling_state": ""},
            close=ReservationStatus.ASSIGNED if n.state == S.RESERVED else None,
        )


def _import_new_number(row: ImportRow, skus: dict[int, Sku], now: dt.datetime) -> PhoneNumber:
    sku = skus[row.attrs["sku_id"]]
    values = {"voice": sku.voice, "sms": sku.sms, "fax": sku.fax, **row.attrs}
    return PhoneNumber(e164=row.e164, country=row.country, state=S.AVAILABLE,
                       state_changed_at=now, created_at=now, updated_at=now, **values)


def numbers_import(*, rows: Sequence[ImportRow], actor, remark: str, dry_run: bool = False,
                   now=None) -> ImportOutcome:
    """Create or update numbers from checked import rows, set-wise, in one transaction.

    New numbers are inserted (COPY on PostgreSQL) with one history row each; existing
    numbers are compared first, and only those whose values differ are locked, written
    (write_numbers) and get a history row, so re-importing a file changes nothing. State
    and holder columns go through _ImportRules (policies, allowance, reservations). A
    refused row changes nothing. `dry_run` decides everything and writes nothing.
    """
    remark = _require_remark(remark)
    now = now or timezone.now()
    outcome = ImportOutcome()
    with transaction.atomic():
        existing = {n.e164: n for n in _numbers_by_e164([row.e164 for row in rows])}
        rules = _ImportRules(now=now, names=_org_names(n.organization_id for n in existing.values()),
                             actor=actor)
        plain: list[ImportRow] = []  # new, available: no rule beyond "does not exist yet"
        tenanted: list[ImportRow] = []  # new, to be reserved, locked or assigned
        candidates: list[ImportRow] = []
        for row in rows:
            n = existing.get(row.e164)
            if n is None:
                (tenanted if row.state and row.state != S.AVAILABLE else plain).append(row)
            elif rules.may_change(row, n):
                candidates.append(row)
            else:
                outcome.unchanged += 1
        if candidates and not dry_run:
            # Decide again on locked, fresh rows: someone may have acted since the read.
            existing.update((n.e164, n) for n in lock_numbers([existing[r.e164] for r in candidates]))
        batch = _Batch(actor=actor, remark=remark, now=now)
        for row in candidates:
            n = existing[row.e164]
            move = rules.move(n, row)
            if move.refusal:
                outcome.refused.append((row.line, *move.refusal))
                continue
            attrs = {name: value for name, value in row.attrs.items() if getattr(n, name) != value}
            if not attrs and not move.values:
                outcome.unchanged += 1
                continue
            outcome.changed += 1
            if move.close:
                batch.close_reservation(n, move.close)
            batch.change(n, **attrs, **move.values)
            if move.reservation is not None:
                batch.open_reservation(n, **move.reservation)
        skus = {s.pk: s for s in Sku.objects.filter(
            pk__in={r.attrs["sku_id"] for r in (*plain, *tenanted)})}
        created: list[PhoneNumber] = []
        tenancies: list[tuple[PhoneNumber, dict[str, Any]]] = []
        for row in tenanted:
            n = _import_new_number(row, skus, now)
            move = rules.move(n, row)
            if move.refusal:
                outcome.refused.append((row.line, *move.refusal))
                continue
            for name, value in move.values.items():
                setattr(n, name, value)
            created.append(n)
            if move.reservation is not None:
                tenancies.append((n, move.reservation))
        outcome.created = len(created) + len(plain)
        if dry_run:
            return outcome
        if batch.changed:
            batch.commit()
        if plain and connection.vendor == "postgresql":
            _import_copy_new(plain, skus, actor=actor, remark=remark, now=now)
        elif plain:
            created.extend(_import_new_number(row, skus, now) for row in plain)
        if created:
            _import_insert(created, tenancies, actor=actor, remark=remark, now=now)
    return outcome


def _numbers_by_e164(e164s: list[str]) -> list[PhoneNumber]:
    if connection.vendor == "postgresql":  # one array parameter instead of thousands
        return list(PhoneNumber.objects.raw(
            f"SELECT * FROM {PhoneNumber._meta.db_table} WHERE e164 = ANY(%s)", [e164s]))
    found: list[PhoneNumber] = []
    for start in range(0, len(e164s), LOCK_CHUNK):
        found.extend(PhoneNumber.objects.filter(e164__in=e164s[start : start + LOCK_CHUNK]))
    return found


_STAGED = ("e164", "country", "vendor_id", "sku_id", "voice", "sms", "fax", "routing", "is_golden",
           "is_ported_in", "visible_to_id", "tags", "notes")


def _import_copy_new(rows: list[ImportRow], skus: dict[int, Sku], *, actor, remark: str,
                     now: dt.datetime) -> None:
    """New available numbers and their history rows, without a model instance per row.

    The rows' own values go to a temporary table by COPY; one INSERT … SELECT … RETURNING
    then creates the numbers, feeding a second INSERT that writes one history row each
    (user, reason and date as simple-history would). The other columns are the same for
    every row and are taken from a template instance, so model defaults stay the source.
    """
    fields = {f.attname: f for f in PhoneNumber._meta.concrete_fields}
    history = PhoneNumber.history.model
    qn = connection.ops.quote_name
    template = PhoneNumber(state=S.AVAILABLE, state_changed_at=now, created_at=now, updated_at=now)
    stage_cols = ", ".join(f"{qn(fields[a].column)} {fields[a].db_type(connection)}" for a in _STAGED)
    insert_cols, select_exprs, params = [], [], []
    for attname, f in fields.items():
        if f.primary_key:
            continue
        insert_cols.append(qn(f.column))
        if attname in _STAGED:
            select_exprs.append(f"s.{qn(f.column)}")
        else:
            select_exprs.append("%s")
            params.append(f.get_db_prep_save(getattr(template, attname), connection))
    tracked = [f.column for f in history.tracked_fields]
    meta = {"history_date": now, "history_user_id": _actor(actor).pk,
            "history_change_reason": remark, "history_type": "+"}
    sql = (
        f"WITH new AS (INSERT INTO {qn(PhoneNumber._meta.db_table)} ({', '.join(insert_cols)}) "
        f"SELECT {', '.join(select_exprs)} FROM _import_stage s ORDER BY s.seq RETURNING *) "
        f"INSERT INTO {qn(history._meta.db_table)} "
        f"({', '.join(qn(c) for c in tracked)}, {', '.join(meta)}) "
        f"SELECT {', '.join(f'new.{qn(c)}' for c in tracked)}, {', '.join(['%s'] * len(meta))} FROM new"
    )
    params.extend(meta.values())
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS _import_stage (seq serial, {stage_cols}) "
                       "ON COMMIT DROP")
        cursor.execute("TRUNCATE _import_stage")
        defaults = {pk: (s.voice, s.sms, s.fax) for pk, s in skus.items()}
        with cursor.cursor.copy(
            f"COPY _import_stage ({', '.join(qn(fields[a].column) for a in _STAGED)}) FROM STDIN"
        ) as copy:
            for row in rows:
                a = row.attrs
                voice, sms, fax = defaults[a["sku_id"]]
                copy.write_row((
                    row.e164, row.country, a["vendor_id"], a["sku_id"], a.get("voice", voice),
                    a.get("sms", sms), a.get("fax", fax), a.get("routing", ""),
                    a.get("is_golden", False), a.get("is_ported_in", False), a.get("visible_to_id"),
                    a.get("tags", ""), a.get("notes", ""),
                ))
        try:
            with transaction.atomic():
                # Checked per statement, the foreign keys cost about a third less than as
                # millions of deferred trigger events fired at COMMIT; back to deferred after.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(sql, params)
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        except IntegrityError:
            raise ServiceError(
                "Some of these numbers were added by someone else while the file was being "
                "imported; nothing was imported. Import the file again."
            ) from None


def _import_insert(created: list[PhoneNumber], tenancies: list[tuple[PhoneNumber, dict[str, Any]]],
                   *, actor, remark: str, now: dt.datetime) -> None:
    user = _actor(actor)
    try:
        with transaction.atomic():
            insert_objects(created)
            insert_history(created, history_type="+", user_id=user.pk, reason=remark, date=now)
            if tenancies:
                reservations = [
                    Reservation(number=n, starts_at=now, status=ReservationStatus.ACTIVE,
                                remark=remark, created_by=actor,
                                reserver_name=spec["organization"].name if spec.get("organization") else "",
                                notice_email=(spec["organization"].notice_email
                                              if spec.get("organization") else ""),
                                **spec)
                    for n, spec in tenancies
                ]
                insert_objects(reservations)
                from notifications.services import notices_for_new_reservations

                notices_for_new_reservations(reservations=reservations, now=now)
    except Exception as exc:
        if isinstance(exc, IntegrityError) or getattr(exc, "sqlstate", None) == "23505":
            raise ServiceError(
                "Some of these numbers were added by someone else while the file was being "
                "imported; nothing was imported. Import the file again."
            ) from None
        raise


def import_job_claim(*, job_id: int, confirm: bool, total_rows: int) -> bool:
    """Mark an import job running if it waits for this step (preview, or a confirmed
    import). A conditional UPDATE, so a task delivered twice, or a job resumed by beat
    while its own task starts, runs once. False: another run has it."""
    J = ImportJobStatus
    waiting = ImportJob.objects.filter(pk=job_id)
    waiting = (waiting.filter(status=J.PREVIEWED, confirmed_at__isnull=False) if confirm
               else waiting.filter(status=J.PENDING))
    return bool(waiting.update(status=J.RUNNING, processed_rows=0, total_rows=total_rows))


def import_job_fail(*, job_id: int, message: str, now: dt.datetime | None = None) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJobStatus.FAILED, finished_at=now or timezone.now(), message=message
    )
