"""What a service call returns, and the batch every state change goes through.

A service locks its rows (inventory.services.locks), then decides number by number with
`Batch.check` (keep / refuse / go on, from `ALLOWED_TRANSITIONS`) and `Batch.change`,
then `Batch.commit` writes everything set-wise in the lock order: the numbers (with one
history row each), then their reservations, then the notices, and last the domain
events. Each changed number's before and after is kept as a `NumberChange`
(`TransitionResult.changes`), so that the one call in `_emit` can publish them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.db.models import Field, Model
from simple_history.utils import get_history_model_for_model

from notifications.services import notices_for_new_reservations

from ..bulk import (
    bound_cursor,
    insert_history,
    insert_objects,
    pg_array,
    pg_ids,
    update_from_arrays,
    update_same_with_history,
)
from ..choices import ALLOWED_TRANSITIONS, Action, NumberState, ReservationStatus, transition_target
from ..models import PhoneNumber, Reservation
from .publish import changes_publish

S = NumberState
T = TypeVar("T")
WRITE_CHUNK = 2000
# What a domain event says about a number before and after a change.
TRACKED = ("state", "organization_id", "subscription_id", "expires_at", "reserved_for", "visible_to_id")


class ServiceError(ValidationError):
    """The request as a whole cannot be done (bad argument); nothing was changed."""


class NoNumberAvailable(ServiceError):
    pass


@dataclass(frozen=True, slots=True)
class NumberChange:
    """One changed number: the action, and its TRACKED values before and after."""

    number_id: int
    e164: str
    action: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass
class TransitionResult:
    done: list[PhoneNumber] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    unchanged: list[PhoneNumber] = field(default_factory=list)
    changes: list[NumberChange] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.done)} done", f"{len(self.rejected)} refused"]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} already so")
        return ", ".join(parts)

    def merge(self, other: TransitionResult) -> TransitionResult:
        self.done.extend(other.done)
        self.rejected.update(other.rejected)
        self.unchanged.extend(other.unchanged)
        self.changes.extend(other.changes)
        return self


def system_user() -> Any:
    """The user that history rows name when the system acts (beat, expiry, automation)."""
    user, _ = get_user_model().objects.get_or_create(
        username=settings.SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "System"},
    )
    return user


def actor_or_system(actor: Any) -> Any:
    return actor if actor is not None else system_user()


def is_system(actor: Any) -> bool:
    """No user, or the system user: the command line and beat, trusted like ops."""
    return actor is None or actor.username == settings.SYSTEM_USERNAME


def require_remark(remark: str | None) -> str:
    remark = (remark or "").strip()
    if not remark:
        raise ServiceError("A remark is required: say why.")
    return remark


def refusal_reason(number: PhoneNumber, action: str) -> str | None:
    """Why `action` may not start from this number's state (None: it may)."""
    sources = ALLOWED_TRANSITIONS[action].sources
    if number.state in sources:
        return None
    wanted = " or ".join(sorted(sources))
    return f"is {number.state}; {Action(action).label.lower()} needs {wanted}"


def reservation_build(number: PhoneNumber, *, kind: str, ends_at: dt.datetime | None,
                      now: dt.datetime, remark: str, actor: Any, organization: Any = None,
                      reserved_for: str = "", did_reservation: Any = None) -> Reservation:
    """The one way a Reservation (or lock) row is made: with the reserver's snapshot.

    Built from its values in field order, the related objects cached as keyword arguments
    would cache them: a bulk reserve makes 10,000, and keyword arguments set each foreign
    key through its descriptor (three times slower)."""
    creator = None if is_system(actor) else actor
    values = {
        "number_id": number.pk, "kind": kind,
        "organization_id": organization.pk if organization else None,
        "reserver_name": organization.name if organization else "",
        "notice_email": organization.notice_email if organization else "",
        "reserved_for": reserved_for or "", "starts_at": now, "ends_at": ends_at,
        "did_reservation_id": did_reservation.pk if did_reservation else None,
        "status": ReservationStatus.ACTIVE, "remark": remark,
        "created_by_id": creator.pk if creator else None,
    }
    reservation = Reservation(*[values[f.attname] if f.attname in values else f.get_default()
                                for f in Reservation._meta.concrete_fields])
    for name, related in (("number", number), ("organization", organization),
                          ("did_reservation", did_reservation), ("created_by", creator)):
        Reservation._meta.get_field(name).set_cached_value(reservation, related)  # type: ignore[union-attr]
    return reservation


def reservations_open(reservations: list[Reservation], *, now: dt.datetime) -> None:
    """Insert new reservations; one that already ends within the notice lead time gets its
    notice in this transaction (e.g. a one-day swap-out), not 15 minutes later from beat."""
    if reservations:
        insert_objects(reservations)
        notices_for_new_reservations(reservations=reservations, now=now)


def batches_run(work: Callable[[T], int], batches: Sequence[T], *, workers: int) -> int:
    """Run `work` over committed batches on `workers` connections at once; the sum of its
    results. Each batch is its own transaction, so parallel batches only need disjoint rows
    (the caller's SKIP LOCKED re-check under the lock makes that so).

    Sequential inside an open transaction (the caller's work would not be seen by another
    connection, as in a test) and off PostgreSQL. The calling thread works too; the other
    threads' connections are closed when they finish. The first error stops the others
    after their batch in flight and is raised."""
    if workers <= 1 or len(batches) <= 1 or not _postgres() or connection.in_atomic_block:
        return sum(work(batch) for batch in batches)
    pending = iter(batches)
    taken = threading.Lock()
    done: list[int] = []
    errors: list[BaseException] = []

    def drain() -> None:
        while not errors:
            with taken:
                batch = next(pending, None)
            if batch is None:
                return
            try:
                done.append(work(batch))
            except BaseException as error:  # re-raised in the caller's thread
                errors.append(error)

    def helper() -> None:
        try:
            drain()
        finally:
            connections.close_all()  # this thread's own connections

    threads = [threading.Thread(target=helper, name=f"batch-worker-{i}", daemon=True)
               for i in range(min(workers, len(batches)) - 1)]
    for thread in threads:
        thread.start()
    drain()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(done)


def timestamps_parse(texts: Iterable[str | None]) -> list[dt.datetime | None]:
    """timestamptz values read as text (the session is in UTC), parsed once per distinct
    value: a batch's ends repeat, and Django's per-value loader costs ~15 µs each."""
    parsed: dict[str, dt.datetime] = {}
    out: list[dt.datetime | None] = []
    for text in texts:
        if text is None:
            out.append(None)
            continue
        value = parsed.get(text)
        if value is None:
            value = parsed[text] = dt.datetime.fromisoformat(text)
        out.append(value)
    return out


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def reservations_close(number_ids: Sequence[int], *, status: str, now: dt.datetime,
                       returning_kind: str | None = None) -> list[tuple[int, int, dt.datetime | None]]:
    """The one way the active reservation of numbers ends (assigned, released, expired …).

    With `returning_kind`, the closed reservations of that kind as (id, number id, ends_at),
    so a caller (the sweep's lock notices) needs no read of its own. PostgreSQL: one
    statement."""
    if not number_ids:
        return []
    active = ReservationStatus.ACTIVE
    if _postgres():
        sql = ("UPDATE inventory_reservation SET status = %s, closed_at = %s "
               "WHERE number_id = ANY(%s::bigint[]) AND status = %s")
        params = [status, now, pg_ids(number_ids), active]
        with bound_cursor() as cursor:
            if returning_kind is None:
                cursor.execute(sql, params)
                return []
            cursor.execute(f"WITH closed AS ({sql} RETURNING id, number_id, kind, ends_at) "
                           "SELECT id, number_id, ends_at::text FROM closed WHERE kind = %s",
                           [*params, returning_kind])
            rows = cursor.fetchall()
        ends = timestamps_parse(row[2] for row in rows)
        return [(pk, number_id, end) for (pk, number_id, _), end in zip(rows, ends, strict=True)]
    closed: list[tuple[int, int, dt.datetime | None]] = []
    for start in range(0, len(number_ids), WRITE_CHUNK):
        chunk = Reservation.objects.filter(number_id__in=number_ids[start : start + WRITE_CHUNK],
                                           status=active)
        if returning_kind is not None:
            closed.extend(chunk.filter(kind=returning_kind).values_list("pk", "number_id", "ends_at"))
        chunk.update(status=status, closed_at=now)
    return closed


def write_rows_with_history(rows: Sequence[tuple[int, dict[str, Any], str]], *, actor: Any,
                            now: dt.datetime) -> None:
    """Give each number (id, its new values, the history remark) its own values, set-wise,
    with one history row each naming the actor and the remark: for a sweep whose rows end
    differently (reservations, locks, cooling) but are all known from one read.

    PostgreSQL: one statement per WRITE_CHUNK × 5 rows, `UPDATE … FROM unnest(arrays)
    RETURNING` feeding the history `INSERT`. Rows that do not all set the same fields, and
    other databases, go through update_same_with_history, one statement per alike group.
    """
    if not rows:
        return
    user_id = actor_or_system(actor).pk
    names = sorted(rows[0][1])
    if not _postgres() or any(sorted(values) != names for _, values, _ in rows):
        groups: dict[tuple, list[int]] = defaultdict(list)
        for pk, values, reason in rows:
            groups[(reason, tuple(sorted(values.items())))].append(pk)
        for (reason, values), ids in groups.items():
            update_same_with_history(PhoneNumber, ids, dict(values), user_id=user_id, reason=reason,
                                     date=now, chunk=WRITE_CHUNK)
        return
    fields = [cast("Field", PhoneNumber._meta.get_field(name)) for name in names]
    history = get_history_model_for_model(PhoneNumber)
    qn = connection.ops.quote_name
    history_columns = [qn(f.column) for f in history.tracked_fields]
    tracked = ", ".join(history_columns)
    columns = [qn(cast("str", f.column)) for f in fields]
    # The rows' values come in few kinds (a sweep's numbers end alike and share one dict):
    # each kind is spelled once, in a small table joined by its ordinal, and each row sends
    # only its id, its kind and its remark.
    sql = (
        "WITH k AS (SELECT * FROM unnest("
        + ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        + f") WITH ORDINALITY AS k({', '.join(columns)}, kind)), "
        "v AS (SELECT * FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS v(id, kind, reason)), "
        f"changed AS (UPDATE {qn(PhoneNumber._meta.db_table)} AS p SET "
        + ", ".join(f"{c} = k.{c}" for c in columns)
        + ", updated_at = %s FROM v JOIN k ON k.kind = v.kind WHERE p.id = v.id RETURNING "
        + ", ".join(f"p.{c}" for c in history_columns) + ", v.reason) "
        f"INSERT INTO {qn(history._meta.db_table)} ({tracked}, history_date, history_user_id, "
        f"history_change_reason, history_type) "
        f"SELECT {tracked}, %s, %s, (%s::text[])[changed.reason], '~' FROM changed"
    )
    reasons: dict[str, int] = {}
    step = 5 * WRITE_CHUNK
    with bound_cursor() as cursor:
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            kinds: dict[int, int] = {}  # id(values) → its ordinal in k
            kind_values: list[dict[str, Any]] = []
            kind_of, reason_of = [], []
            for _, values, reason in part:
                kind = kinds.get(id(values))
                if kind is None:
                    kind_values.append(values)
                    kind = kinds[id(values)] = len(kind_values)
                kind_of.append(kind)
                reason_of.append(reasons.setdefault(reason, len(reasons) + 1))
            arrays = [pg_array(_pk(values[name]) for values in kind_values) for name in names]
            cursor.execute(sql, [*arrays, pg_ids(pk for pk, _, _ in part), pg_ids(kind_of),
                                 pg_ids(reason_of), now, now, user_id, pg_array(reasons)])


def write_numbers(numbers: Sequence[PhoneNumber], *, fields: Iterable[str], actor: Any, remark: str,
                  now: dt.datetime) -> None:
    """Persist in-memory changes set-wise and write one history row per number.

    Numbers that share the new values (a bulk action's are mostly the same) are written
    by one statement per chunk that updates them and copies each updated row into the
    history table with the actor and the remark (on PostgreSQL one `UPDATE … RETURNING`
    feeding an `INSERT`). simple-history does not see `update()`, so the history rows are
    written here, in the same transaction. Values that differ per number (an import's
    notes) go in one `UPDATE … FROM unnest(…)` per chunk instead.
    """
    names = sorted({cast("Field", PhoneNumber._meta.get_field(f)).attname for f in fields})
    user_id = actor_or_system(actor).pk
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


def _pk(value: Any) -> Any:
    """A model instance given for a foreign key: its primary key (arrays take plain values)."""
    return value.pk if isinstance(value, Model) else value


def _tracked(number: PhoneNumber) -> dict[str, Any]:
    return {name: getattr(number, name) for name in TRACKED}


class Batch:
    """The decisions of one call on locked rows, written set-wise with history at commit.

    `action` names what the call does (an Action value, or "update" for attributes); a
    change may name its own (an import mixes reserve, lock and assign in one batch).
    """

    def __init__(self, *, actor: Any, remark: str, now: dt.datetime, action: str):
        self.actor = actor_or_system(actor)
        self.remark = remark
        self.now = now
        self.action = action
        self.result = TransitionResult()
        self.changed: dict[int, PhoneNumber] = {}
        self.before: dict[int, tuple[str, dict[str, Any]]] = {}  # number id → (action, values)
        self.fields: set[str] = set()
        self.close: dict[int, str] = {}  # number id → new status of its active reservation
        self.open: list[Reservation] = []

    def refuse(self, number: PhoneNumber, reason: str) -> None:
        self.result.rejected[number.e164] = reason

    def keep(self, number: PhoneNumber) -> None:
        self.result.unchanged.append(number)

    def check(self, number: PhoneNumber, action: str, *, already: bool | None = None,
              refusal: str | None = None, cooling_days: int = 0) -> str | None:
        """The one keep / refuse / go-on skeleton: returns the target state to move to,
        or None when the number was kept (already so) or refused (with the reason).

        `already` says the number is already as this call would leave it (default: it is
        in a state this action leads to and cannot start from); `refusal` is the caller's
        own reason, checked after the table's sources.
        """
        rule = ALLOWED_TRANSITIONS[action]
        if already is None:
            targets = {rule.target} | ({S.COOLING} if rule.cooling else set())
            already = number.state not in rule.sources and number.state in targets
        if already:
            self.keep(number)
            return None
        reason = refusal_reason(number, action) or refusal
        if reason:
            self.refuse(number, reason)
            return None
        return transition_target(action, number.state, cooling_days=cooling_days,
                                 after_cooling=number.after_cooling_state,
                                 chosen=number.after_hold_state)

    def change(self, number: PhoneNumber, *, action: str | None = None, **values: Any) -> None:
        if number.pk not in self.before:
            self.before[number.pk] = (action or self.action, _tracked(number))
        if "state" in values and values["state"] != number.state:
            values["state_changed_at"] = self.now
        for name, value in values.items():
            setattr(number, name, value)
        self.fields.update(values)
        self.changed[number.pk] = number

    def close_reservation(self, number: PhoneNumber, status: str) -> None:
        self.close[number.pk] = status

    def open_reservation(self, number: PhoneNumber, *, kind: str, ends_at: dt.datetime | None,
                         organization: Any = None, reserved_for: str = "",
                         did_reservation: Any = None) -> Reservation:
        reservation = reservation_build(
            number, kind=kind, ends_at=ends_at, now=self.now, remark=self.remark,
            actor=self.actor, organization=organization, reserved_for=reserved_for,
            did_reservation=did_reservation,
        )
        self.open.append(reservation)
        return reservation

    def commit(self) -> TransitionResult:
        """Write in the lock order: numbers → reservations → notices → events."""
        changed = list(self.changed.values())
        if changed:
            write_numbers(changed, fields=self.fields, actor=self.actor, remark=self.remark,
                          now=self.now)
        by_status: dict[str, list[int]] = defaultdict(list)
        for number_id, status in self.close.items():
            by_status[status].append(number_id)
        for status, ids in by_status.items():
            reservations_close(ids, status=status, now=self.now)
        reservations_open(self.open, now=self.now)
        self.result.done = changed
        self.result.changes = [
            NumberChange(number_id=n.pk, e164=n.e164, action=self.before[n.pk][0],
                         before=self.before[n.pk][1], after=_tracked(n))
            for n in changed
        ]
        _emit(self)
        return self.result


def _emit(batch: Batch) -> None:
    """The domain events of one commit, inside its transaction, after every other write
    (last in the lock order): one per action among the changes (publish.ACTION_EVENTS)
    and ≤ 1,000 numbers; nothing for a refused, kept or empty call."""
    if batch.result.changes:
        changes_publish(changes=batch.result.changes, actor=batch.actor, remark=batch.remark,
                        now=batch.now,
                        visible_to={pk: n.visible_to_id for pk, n in batch.changed.items()})
