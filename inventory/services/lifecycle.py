"""The life-cycle actions a person takes (DESIGN §4): add, reserve, lock, unlock, assign,
release, extend, delete, recover, next-available.

Each is one transaction: rows are locked in the one order (locks.py), each number is
decided by `Batch.check` against `ALLOWED_TRANSITIONS` (keep / refuse / move), and
`Batch.commit` writes the moves with one history row per number. Moves into the state a
number already has, by the same cause, are no-ops, so a retry or a double click is
harmless.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, overload

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from simple_history.utils import get_history_model_for_model

from events.services import NumberSnapshot
from notifications.services import notices_for_new_reservations
from subscriptions.choices import SubscriptionKind
from subscriptions.models import Organization, Subscription

from ..bulk import clone, insert_history, insert_objects
from ..choices import (
    ALLOWED_TRANSITIONS,
    Action,
    AfterHoldState,
    DeleteReason,
    NumberState,
    PolicyCause,
    ReservationKind,
    ReservationStatus,
)
from ..models import PhoneNumber, Sku, Vendor
from ..numbers import parse_spec, pattern_q, region_of
from ..selectors import existing_e164
from .locks import numbers_lock, reservations_active, subscription_lock
from .policies import Policies
from .publish import numbers_added_draft
from .results import (
    Batch,
    NoNumberAvailable,
    ServiceError,
    TransitionResult,
    actor_or_system,
    require_remark,
    reservation_build,
)

S = NumberState
A = Action
_UNSET: Any = object()


# --- rules shared by the actions, the automatic moves and the import ---------------------


def org_names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    return dict(Organization.objects.filter(pk__in=wanted).values_list("pk", "name"))


def resolve(model: Any, value: Any, field_name: str, label: str) -> Any:
    if value is None or isinstance(value, model):
        return value
    try:
        return model.objects.get(**{field_name: value})
    except model.DoesNotExist:
        raise ServiceError(f"Unknown {label}: {value}") from None


def tenancy_end_values(target: str, *, action: str, now: dt.datetime,
                       cooling_days: int) -> dict[str, Any]:
    """A tenancy ends (release, expiry): the holder goes; cooling waits, then the target.
    `reserved_for` stays (VOSS): only number_set_reserved_for clears it."""
    common = {"organization": None, "subscription": None}
    if target == S.COOLING:
        return {**common, "state": S.COOLING, "expires_at": now + dt.timedelta(days=cooling_days),
                "after_cooling_state": ALLOWED_TRANSITIONS[action].target}
    return {**common, "state": target, "expires_at": None, "after_cooling_state": ""}


def assign_refusal(n: PhoneNumber, sub: Subscription, names: dict[int, str]) -> str | None:
    """Who may take a number: the reserver, a partner's customers, the named user (in any
    state: the flag outlives reservations), an available number only when visible to the
    subscription's partner (or everyone), and a golden number only once reserved (B3:
    golden numbers are sold only after being reserved for the organization)."""
    if n.reserved_for and n.reserved_for != sub.subscriber:
        return f"reserved for {n.reserved_for}; the subscription's subscriber is " + (
            sub.subscriber or "not set"
        )
    if n.state == S.RESERVED:
        org = sub.organization
        if n.organization_id not in (org.pk, org.parent_id):
            holder = names.get(n.organization_id or 0, "another organization")
            return f"reserved by {holder}; the subscription belongs to {org.name}"
    elif n.state == S.AVAILABLE:
        if n.is_golden:
            return "golden: sold only after being reserved for the organization"
        if n.visible_to_id and n.visible_to_id != sub.organization.partner_id:
            return "visible only to another partner"
    return None


# A subscription's numbers: assigned, or held while it is suspended (still its own).
HELD_STATES = (S.ASSIGNED, S.HOLD)


class Allowance:
    """How many more numbers each subscription may take, counted once per call (assign,
    next-available, swap and import all take their places through `take`)."""

    def __init__(self) -> None:
        self.room: dict[int, int | None] = {}

    def left(self, sub: Subscription, *, leaving: Iterable[int] = ()) -> int | None:
        """How many more numbers `sub` may take (None: no limit); one count query, once."""
        if sub.pk not in self.room:
            if sub.number_allowance is None:
                self.room[sub.pk] = None
            else:
                held = (PhoneNumber.objects.filter(subscription=sub, state__in=HELD_STATES)
                        .exclude(pk__in=list(leaving)).count())
                self.room[sub.pk] = sub.number_allowance - held
        return self.room[sub.pk]

    def take(self, sub: Subscription, *, leaving: Iterable[int] = ()) -> str | None:
        """Take one place, or say why not. `leaving`: numbers that leave `sub` in this same
        call (a swap) and so free their place."""
        room = self.left(sub, leaving=leaving)
        if room is None:
            return None
        if room <= 0:
            return f"allowance of {sub.number_allowance} numbers reached"
        self.room[sub.pk] = room - 1
        return None


def assign_values(sub: Subscription, target: str) -> dict[str, Any]:
    return {"state": target, "subscription": sub, "organization": sub.organization,
            "expires_at": None, "after_cooling_state": ""}


def assign_into(batch: Batch, numbers: list[PhoneNumber], sub: Subscription, *,
                action: str = A.ASSIGN) -> None:
    """Assign (or onboard: `action`) numbers to `sub`, each checked against who may take it
    and the allowance; the rest are refused with the reason."""
    names = org_names(n.organization_id for n in numbers)
    allowance = Allowance()
    leaving = [pk for pk, n in batch.changed.items() if n.subscription_id != sub.pk]
    for n in numbers:
        target = batch.check(n, action,
                             already=n.state == S.ASSIGNED and n.subscription_id == sub.pk,
                             refusal=assign_refusal(n, sub, names))
        if target is None:
            continue
        if reason := allowance.take(sub, leaving=leaving):
            batch.refuse(n, reason)
            continue
        if n.state == S.RESERVED:
            batch.close_reservation(n, ReservationStatus.ASSIGNED)
        batch.change(n, action=action, **assign_values(sub, target))


def charged_end(period_end: dt.datetime | None, floor: dt.datetime | None) -> dt.datetime | None:
    if period_end is None:
        return None
    if floor is None:
        return period_end
    return max(period_end, floor)


# --- add -------------------------------------------------------------------------------

NUMBER_ATTRS = {"voice", "sms", "fax", "routing", "is_golden", "is_ported_in", "visible_to",
                "tags", "notes", "after_hold_state", "hold_days"}


def hold_attrs_clean(values: dict[str, Any]) -> None:
    """The after-hold state and hold days of a number, checked in place (add, mass edit)."""
    if "after_hold_state" in values:
        state = (values["after_hold_state"] or AfterHoldState.RESERVED).strip().lower()
        if state not in AfterHoldState.values:
            raise ServiceError(f"After hold must be one of {', '.join(AfterHoldState.values)}, "
                               f"not {values['after_hold_state']!r}.")
        values["after_hold_state"] = state
    if "hold_days" in values:
        days = values["hold_days"]
        if days in (None, ""):
            values["hold_days"] = None
        else:
            try:
                values["hold_days"] = int(days)
            except (TypeError, ValueError):
                raise ServiceError(f"Hold days must be a whole number, not {days!r}.") from None
            if not 0 <= values["hold_days"] <= 3650:
                raise ServiceError("Hold days must be between 0 and 3650 (empty = the policy's).")


SET_WISE_MIN = 500  # below this the portable path is as fast
SET_WISE_CHUNK = 50_000


def _insert_set_wise(objs: list[PhoneNumber], template: PhoneNumber, *, user_id: int | None,
                     remark: str, now: dt.datetime) -> bool:
    """PostgreSQL: insert new numbers that differ only in e164 and country, and their "+"
    history rows, with one statement per SET_WISE_CHUNK: the two per-number values go as
    two arrays, every other column is the template's (so model defaults stay the source),
    and the inserted rows feed the history INSERT inside the database. Sets each object's
    pk. Returns False (nothing written) where the portable path must do it.

    A number someone added a moment ago raises IntegrityError, as the COPY path does."""
    if connection.vendor != "postgresql" or len(objs) < SET_WISE_MIN:
        return False
    history = get_history_model_for_model(PhoneNumber)
    qn = connection.ops.quote_name
    per_row = {"e164": "v.e164", "country": "v.country"}
    stamp = timezone.now()
    stamped: list[str] = []
    columns: list[str] = []
    exprs: list[str] = []
    params: list[Any] = []
    for f in PhoneNumber._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(qn(str(f.column)))
        if f.attname in per_row:
            exprs.append(per_row[f.attname])
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            exprs.append("%s")  # stamped as save() and the COPY path stamp them
            params.append(f.get_db_prep_save(stamp, connection))
            stamped.append(f.attname)
        else:
            exprs.append("%s")
            params.append(f.get_db_prep_save(getattr(template, f.attname), connection))
    tracked = [qn(f.column) for f in history.tracked_fields]
    sql = (
        f"WITH new AS (INSERT INTO {qn(PhoneNumber._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY "
        f"AS v(e164, country, seq) ORDER BY v.seq RETURNING *), "
        f"hist AS (INSERT INTO {qn(history._meta.db_table)} ({', '.join(tracked)}, history_date, "
        f"history_user_id, history_change_reason, history_type) "
        f"SELECT {', '.join('new.' + c for c in tracked)}, %s, %s, %s, '+' FROM new) "
        f"SELECT new.e164, new.id FROM new"
    )
    with connection.cursor() as cursor:
        # Foreign keys checked per statement cost less than 600,000 deferred trigger events
        # fired at COMMIT (as the import measured); the caller's transaction is atomic, and
        # they are back to deferred after.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for start in range(0, len(objs), SET_WISE_CHUNK):
            part = objs[start : start + SET_WISE_CHUNK]
            cursor.execute(sql, [*params, [n.e164 for n in part], [n.country for n in part],
                                 now, user_id, remark])
            ids = dict(cursor.fetchall())
            alias = connection.alias
            for n in part:
                n.pk = ids[n.e164]
                for name in stamped:
                    setattr(n, name, stamp)
                n._state.adding = False
                n._state.db = alias
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return True


def number_add(*, numbers: str | list[str], vendor: Vendor | str, sku: Sku | str,
               country: str | None = None, actor: Any, state: str = S.AVAILABLE, remark: str = "",
               max_items: int | None = None, max_range: int | None = None,
               expires_at: Any = _UNSET, now: dt.datetime | None = None, dry_run: bool = False,
               **attrs: Any) -> TransitionResult:
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
    vendor_row: Vendor = resolve(Vendor, vendor, "name", "vendor")
    sku_row: Sku = resolve(Sku, sku, "code", "SKU")
    if "tags" in attrs:
        attrs["tags"] = PhoneNumber.tags_to_field(attrs["tags"])
    hold_attrs_clean(attrs)
    for capability in ("voice", "sms", "fax"):
        attrs.setdefault(capability, getattr(sku_row, capability))
    remark = (remark or "").strip() or "added"
    # The form and API limits bound a request in total too, not only each range in it.
    parsed = parse_spec(numbers, country=country, max_items=max_items, max_range=max_range,
                        max_total=max_range)
    result = TransitionResult(rejected=dict(parsed.errors))
    existing = existing_e164(parsed.numbers)
    for e164 in existing:
        result.rejected[e164] = "already exists"
    user = actor_or_system(actor)
    lock_policy = Policies(PolicyCause.LOCK) if state == S.LOCKED else None
    template = PhoneNumber(vendor=vendor_row, sku=sku_row, state=state, state_changed_at=now,
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
            if lock_policy is None and _insert_set_wise(objs, template, user_id=user.pk,
                                                        remark=remark, now=now):
                added = NumberSnapshot.of(template)  # all alike: one snapshot, shared
                numbers_added_draft(added=[(n.e164, added) for n in objs], actor=user,
                                      remark=remark, now=now).write()
            else:
                insert_objects(objs)
                insert_history(objs, history_type="+", user_id=user.pk, reason=remark, date=now)
                if lock_policy is not None:
                    locks = [reservation_build(n, kind=ReservationKind.LOCK, ends_at=n.expires_at,
                                               now=now, remark=remark, actor=actor) for n in objs]
                    insert_objects(locks)
                    notices_for_new_reservations(reservations=locks, now=now)
                numbers_added_draft(added=[(n.e164, NumberSnapshot.of(n)) for n in objs],
                                      actor=user, remark=remark, now=now).write()
    except IntegrityError:
        raise ServiceError(
            "Some of these numbers were added by someone else a moment ago; nothing was "
            "added. Try again."
        ) from None
    result.done = objs
    return result


# --- the life cycle --------------------------------------------------------------------


def number_reserve(*, numbers: Any, organization: Organization, actor: Any, remark: str,
                   reserved_for: str | None = None, now: dt.datetime | None = None) -> TransitionResult:
    remark = require_remark(remark)
    if organization is None:
        raise ServiceError("Reserve needs an organization.")
    given = (reserved_for or "").strip()
    now = now or timezone.now()
    with transaction.atomic():
        batch = Batch(actor=actor, remark=remark, now=now, action=A.RESERVE)
        policies = Policies(PolicyCause.MANUAL)
        locked = numbers_lock(numbers)
        names = org_names(n.organization_id for n in locked)
        for n in locked:
            if given and n.reserved_for and n.reserved_for != given:
                batch.refuse(n, f"reserved for {n.reserved_for}; change that with set "
                                "reserved-for first")
                continue
            wanted = given or n.reserved_for  # the flag outlives reservations (VOSS)
            same = n.organization_id == organization.pk and n.reserved_for == wanted
            if n.state == S.RESERVED and not same:
                batch.refuse(n, f"already reserved by {names.get(n.organization_id or 0, 'someone else')}")
                continue
            target = batch.check(n, A.RESERVE, already=n.state == S.RESERVED)
            if target is None:
                continue
            ends = policies.ends(n, now)
            batch.change(n, state=target, organization=organization, subscription=None,
                         reserved_for=wanted, expires_at=ends, after_cooling_state="")
            batch.open_reservation(n, kind=ReservationKind.MANUAL, organization=organization,
                                   reserved_for=wanted, ends_at=ends)
        return batch.commit()


def _each(*, numbers: Any, action: str, actor: Any, remark: str, now: dt.datetime | None,
          move: Callable[[Batch, PhoneNumber, str], None],
          cooling: Policies | None = None,
          already: Callable[[PhoneNumber], bool] | None = None) -> TransitionResult:
    """The one skeleton of an action on numbers: lock them (pk order), check each against the
    table (keep / refuse / go on), let `move` write the allowed ones, commit. `cooling`:
    the action ends a tenancy, so a number may go through cooling (the table's row says).
    `already`: the action's own "already so" (default: the table's target)."""
    remark = require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        batch = Batch(actor=actor, remark=remark, now=now, action=action)
        for n in numbers_lock(numbers):
            days = cooling.days(n) if cooling is not None else 0
            if target := batch.check(n, action, cooling_days=days,
                                     already=already(n) if already else None):
                move(batch, n, target)
        return batch.commit()


def number_lock(*, numbers: Any, actor: Any, remark: str,
                now: dt.datetime | None = None) -> TransitionResult:
    policies = Policies(PolicyCause.LOCK)

    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        ends = policies.ends(n, batch.now)
        batch.change(n, state=target, expires_at=ends)
        batch.open_reservation(n, kind=ReservationKind.LOCK, ends_at=ends)

    return _each(numbers=numbers, action=A.LOCK, actor=actor, remark=remark, now=now, move=move)


def number_unlock(*, numbers: Any, actor: Any, remark: str,
                  now: dt.datetime | None = None) -> TransitionResult:
    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        batch.change(n, state=target, expires_at=None)
        batch.close_reservation(n, ReservationStatus.RELEASED)

    return _each(numbers=numbers, action=A.UNLOCK, actor=actor, remark=remark, now=now, move=move)


def number_assign(*, numbers: Any, subscription: Subscription, actor: Any, remark: str,
                  now: dt.datetime | None = None) -> TransitionResult:
    remark = require_remark(remark)
    now = now or timezone.now()
    with transaction.atomic():
        sub = subscription_lock(subscription, kind=SubscriptionKind.SERVICE)
        batch = Batch(actor=actor, remark=remark, now=now, action=A.ASSIGN)
        assign_into(batch, numbers_lock(numbers), sub)
        return batch.commit()


def number_release(*, numbers: Any, actor: Any, remark: str,
                   now: dt.datetime | None = None) -> TransitionResult:
    cooling = Policies(PolicyCause.COOLING)

    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        batch.change(n, **tenancy_end_values(target, action=A.RELEASE, now=batch.now,
                                             cooling_days=cooling.days(n)))
        batch.close_reservation(n, ReservationStatus.RELEASED)

    return _each(numbers=numbers, action=A.RELEASE, actor=actor, remark=remark, now=now, move=move,
                 cooling=cooling)


def number_extend(*, numbers: Any, did_reservation: Subscription, actor: Any, remark: str = "",
                  now: dt.datetime | None = None) -> TransitionResult:
    """Turn a free reservation into a charged one that lasts as long as the DID subscription."""
    now = now or timezone.now()
    remark = (remark or "").strip() or "extended under a DID reservation subscription"
    with transaction.atomic():
        sub = subscription_lock(did_reservation, kind=SubscriptionKind.DID_RESERVATION)
        batch = Batch(actor=actor, remark=remark, now=now, action=A.EXTEND)
        locked = numbers_lock(numbers)
        active = reservations_active(locked)
        names = org_names(n.organization_id for n in locked)
        for n in locked:
            current = active.get(n.pk)
            refusal = None
            if n.organization_id != sub.organization_id:
                holder = names.get(n.organization_id or 0, "another organization")
                refusal = (f"reserved by {holder}; the DID reservation subscription "
                           f"belongs to {sub.organization.name}")
            charged = bool(current and current.kind == ReservationKind.CHARGED
                           and current.did_reservation_id == sub.pk)
            target = batch.check(n, A.EXTEND, already=charged and not refusal and n.state == S.RESERVED,
                                 refusal=refusal)
            if target is None:
                continue
            free_end = current.ends_at if current else n.expires_at
            ends = charged_end(sub.current_period_end, free_end)
            batch.close_reservation(n, ReservationStatus.EXTENDED)
            batch.change(n, state=target, expires_at=ends)
            batch.open_reservation(n, kind=ReservationKind.CHARGED, ends_at=ends,
                                   organization=sub.organization, reserved_for=n.reserved_for,
                                   did_reservation=sub)
        return batch.commit()


def number_delete(*, numbers: Any, reason: str, actor: Any, remark: str,
                  now: dt.datetime | None = None) -> TransitionResult:
    if reason not in DeleteReason.values:
        raise ServiceError(
            f"Unknown delete reason {reason!r}; one of: {', '.join(DeleteReason.values)}."
        )

    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        if n.state == S.LOCKED:
            batch.close_reservation(n, ReservationStatus.RELEASED)
        batch.change(n, state=target, delete_reason=reason, expires_at=None)

    return _each(numbers=numbers, action=A.DELETE, actor=actor, remark=remark, now=now, move=move)


def number_recover(*, numbers: Any, actor: Any, remark: str,
                   now: dt.datetime | None = None) -> TransitionResult:
    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        batch.change(n, state=target, delete_reason="", expires_at=None)

    return _each(numbers=numbers, action=A.RECOVER, actor=actor, remark=remark, now=now, move=move)


def number_set_reserved_for(*, numbers: Any, reserved_for: str, actor: Any, remark: str,
                            now: dt.datetime | None = None) -> TransitionResult:
    """Set (or, with "", clear) the user a number is kept for (VOSS "Reserved for").

    The flag is the number's own, not a reservation's: it stays through every state change
    until this clears it, and while it is set only a subscription whose subscriber is that
    username may take the number. Any state but deleted; the state does not change.
    """
    value = (reserved_for or "").strip()
    if len(value) > (PhoneNumber._meta.get_field("reserved_for").max_length or 150):
        raise ServiceError("Reserved for is a username of at most 150 characters.")

    def move(batch: Batch, n: PhoneNumber, target: str) -> None:
        batch.change(n, reserved_for=value)

    return _each(numbers=numbers, action=A.SET_RESERVED_FOR, actor=actor, remark=remark, now=now,
                 move=move, already=lambda n: n.reserved_for == value)


def _next_candidates(sub: Subscription, filters: dict[str, Any], count: int) -> list[PhoneNumber]:
    """The first `count` numbers next-available may take for `sub`, locked (skip_locked),
    in at most two ordered queries: the ones kept for its subscriber first (available, or
    reserved by its organization or partner), then free ones kept for nobody. The rules are
    the queries' own: never golden-and-available, never kept for another, never visible only
    to another partner (the partial index number_allocatable serves the second walk)."""
    org = sub.organization
    free = Q(state=S.AVAILABLE, is_golden=False) & (
        Q(visible_to__isnull=True) | Q(visible_to_id=org.partner_id))
    pattern = filters.pop("pattern", None)
    passes = [PhoneNumber.objects.filter(free, reserved_for="")]
    if sub.subscriber:
        ours = Q(state=S.RESERVED, organization_id__in=[i for i in (org.pk, org.parent_id) if i])
        passes.insert(0, PhoneNumber.objects.filter(free | ours, reserved_for=sub.subscriber))
    found: list[PhoneNumber] = []
    for qs in passes:
        if pattern:
            qs = qs.filter(pattern_q(pattern))
        found += qs.filter(**filters).select_for_update(skip_locked=True).order_by("pk")[
            : count - len(found)]
        if len(found) >= count:
            break
    return found


@overload
def number_next_available(*, subscription: Subscription, actor: Any, remark: str,
                          now: dt.datetime | None = None, count: None = None,
                          **filters: Any) -> PhoneNumber: ...
@overload
def number_next_available(*, subscription: Subscription, actor: Any, remark: str,
                          now: dt.datetime | None = None, count: int,
                          **filters: Any) -> list[PhoneNumber]: ...
def number_next_available(*, subscription: Subscription, actor: Any, remark: str,
                          now: dt.datetime | None = None, count: int | None = None,
                          **filters: Any) -> PhoneNumber | list[PhoneNumber]:
    """Assign the first free number that matches (or, with `count`, the first `count`, all or
    none: a list in id order); parallel callers never get the same one.

    `skip_locked` makes each caller pass over rows another is taking. A subscription with a
    subscriber gets the numbers kept for that username first; available golden numbers,
    numbers kept for someone else and numbers visible only to another partner are never
    picked. `pattern=` takes a search pattern (see inventory.numbers.pattern_q).

    A call does the same few queries whatever `count` is: the subscription lock, the
    allowance count (when it has one), the candidates, one write with their history, the
    reservations closed, one event.
    """
    remark = require_remark(remark)
    now = now or timezone.now()
    wanted = 1 if count is None else count
    if wanted < 1:
        raise ServiceError("Count must be at least 1.")
    with transaction.atomic():
        sub = subscription_lock(subscription, kind=SubscriptionKind.SERVICE)
        room = Allowance().left(sub)
        if room is not None and room < wanted:
            raise ServiceError(f"allowance of {sub.number_allowance} numbers reached"
                               + (f" ({room} left, {wanted} asked)" if count is not None else ""))
        numbers = _next_candidates(sub, dict(filters), wanted)
        if len(numbers) < wanted:
            if count is None:
                raise NoNumberAvailable("No available number matches.")
            raise NoNumberAvailable(f"Only {len(numbers)} of {wanted} matching numbers are "
                                    "available; none was allocated.")
        batch = Batch(actor=actor, remark=remark, now=now, action=A.ASSIGN)
        for n in numbers:  # the queries applied the rules; checked again, without a query
            target = batch.check(n, A.ASSIGN, refusal=assign_refusal(n, sub, {}))
            if target is None:
                continue
            if n.state == S.RESERVED:
                batch.close_reservation(n, ReservationStatus.ASSIGNED)
            batch.change(n, **assign_values(sub, target))
        result = batch.commit()
        if result.rejected or result.unchanged:
            e164, reason = next(iter(result.rejected.items()), (result.unchanged[0].e164, "taken"))
            raise ServiceError(f"{e164}: {reason}")
        return result.done[0] if count is None else result.done
