"""Import rules: checked rows (inventory.imports reads and checks the file) become the same
transitions the admin makes, set-wise, in one transaction.

Locks follow the one order (locks.py): the subscriptions the rows assign into are locked
first, then the numbers that may change, then their reservations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from events.services import NumberSnapshot
from subscriptions.choices import SubscriptionKind
from subscriptions.models import Organization, Subscription

from ..bulk import (
    Later,
    Statement,
    copy_insert,
    insert_history,
    insert_objects,
    rows_by_unique,
    statements_run,
    unique_diff,
    unique_present,
)
from ..choices import (
    ACTION_PERMISSIONS,
    Action,
    NumberState,
    PolicyCause,
    ReservationKind,
    ReservationStatus,
    action_permission,
    transition_target,
)
from ..models import ImportMapping, PhoneNumber, Reservation, Sku
from .lifecycle import Allowance, assign_refusal, assign_values, org_names
from .locks import numbers_lock, subscription_check, subscriptions_lock
from .policies import Policies
from .publish import numbers_added_draft
from .results import (
    Batch,
    ServiceError,
    actor_or_system,
    is_system,
    refusal_reason,
    require_remark,
    reservation_build,
    reservations_open,
)

S = NumberState
A = Action
# The state a row names → the action that leads there (its rules and its permission).
IMPORT_ACTIONS: dict[str, str] = {S.RESERVED: A.RESERVE, S.LOCKED: A.LOCK, S.ASSIGNED: A.ASSIGN}
IMPORT_STATES = (S.AVAILABLE, *IMPORT_ACTIONS)
ADDED_MEANWHILE = ("Some of these numbers were added by someone else while the file was being "
                   "imported; nothing was imported. Import the file again.")


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
    reserved_for: str | None = None  # None: keep the number's flag (an empty cell too)
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
    action: str = ""
    reservation: dict[str, Any] | None = None
    close: str | None = None  # new status of the active reservation
    refusal: tuple[str, str] | None = None


class _ImportRules:
    """What a row may do to a number's state: only moves that start from available.

    An import may reserve, lock or assign an available number (the admin's rules and
    policies apply) and leaves numbers already in the row's state alone. It never
    releases, unlocks, unassigns, deletes or recovers: those need a person and a remark.
    """

    def __init__(self, *, now: dt.datetime, names: dict[int, str], actor: Any = None,
                 allowance: Allowance | None = None):
        self.now = now
        self.names = names
        self.actor = actor
        self._policies: dict[str, Policies] = {}
        self._subs: dict[int, tuple[Subscription | None, str]] = {}
        self.allowance = allowance or Allowance()

    def _policy(self, cause: str) -> Policies:
        if cause not in self._policies:
            self._policies[cause] = Policies(cause)
        return self._policies[cause]

    def lock_subscriptions(self, rows: Sequence[ImportRow]) -> None:
        """Lock order step 1, before any number: every subscription a row assigns into."""
        wanted = {row.subscription.pk for row in rows
                  if row.state == S.ASSIGNED and row.subscription is not None}
        locked = subscriptions_lock(wanted)
        for pk in wanted:
            sub = locked.get(pk)
            if sub is None:
                self._subs[pk] = (None, "Unknown subscription.")
                continue
            try:
                subscription_check(sub, kind=SubscriptionKind.SERVICE)
                self._subs[pk] = (sub, "")
            except ServiceError as exc:
                self._subs[pk] = (None, " ".join(exc.messages))

    @staticmethod
    def may_change(row: ImportRow, n: PhoneNumber) -> bool:
        """Cheap test on an unlocked row: could this row change (or be refused for) n?"""
        if any(getattr(n, name) != value for name, value in row.attrs.items()):
            return True
        if row.reserved_for is not None and n.reserved_for != row.reserved_for:
            return True
        if not row.state:
            return False
        if row.state != n.state:
            return True
        if row.organization is not None and n.organization_id != row.organization.pk:
            return True
        return row.subscription is not None and n.subscription_id != row.subscription.pk

    def move(self, n: PhoneNumber, row: ImportRow) -> _Move:
        move = self._state_move(n, row)
        if move.refusal or row.reserved_for is None or row.reserved_for == n.reserved_for:
            return move
        # The reserved-for flag (VOSS): an import sets it where none is set; replacing
        # someone's flag, or clearing it, is the set-reserved-for action's, with a remark.
        if n.reserved_for:
            return _Move(refusal=("reserved_for", f"reserved for {n.reserved_for}; change that with "
                                                  "the set reserved-for action"))
        if move.values.get("state", n.state) == S.DELETED:
            return _Move(refusal=("reserved_for", "a deleted number is reserved for no one"))
        move.values["reserved_for"] = row.reserved_for
        if move.reservation is not None and move.reservation.get("organization") is not None:
            move.reservation["reserved_for"] = row.reserved_for
        return move

    def _state_move(self, n: PhoneNumber, row: ImportRow) -> _Move:
        wanted = row.state
        if not wanted:
            return _Move()
        if wanted == n.state:
            return self._same_state(n, row)
        if wanted not in IMPORT_STATES:
            return _Move(refusal=("state", f"{wanted} cannot be set by an import (deleting and "
                                           "holding are the admin's and the subscriptions')"))
        action = IMPORT_ACTIONS.get(wanted)
        if action is None:
            return _Move(refusal=("state", f"is {n.state}; an import does not release, unlock, "
                                           "unassign or recover numbers (use the admin actions)"))
        if refusal := self._permission_refusal(action, wanted):
            return _Move(refusal=("state", refusal))
        if action == A.RESERVE:
            return self._reserve(n, row)
        if action == A.LOCK:
            if reason := refusal_reason(n, A.LOCK):
                return _Move(refusal=("state", reason))
            # No end in the file: a legacy permanent lock, which never expires by itself.
            return _Move(values={"state": transition_target(A.LOCK, n.state),
                                 "expires_at": row.expires_at}, action=A.LOCK,
                         reservation={"kind": ReservationKind.LOCK, "ends_at": row.expires_at})
        return self._assign(n, row)

    def _permission_refusal(self, action: str, wanted: str) -> str | None:
        """The command line (no user, or the system user) is trusted; a person needs the
        same permission as the admin action."""
        if is_system(self.actor) or self.actor.has_perm(action_permission(action)):
            return None
        return (f"you may not set numbers {wanted} (needs the permission "
                f"inventory.{ACTION_PERMISSIONS[action][0]})")

    def _same_state(self, n: PhoneNumber, row: ImportRow) -> _Move:
        if n.state == S.RESERVED:
            org = row.organization
            if org is not None and n.organization_id != org.pk:
                holder = self.names.get(n.organization_id or 0, "another organization")
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
        if reason := refusal_reason(n, A.RESERVE):
            return _Move(refusal=("state", reason))
        ends = row.expires_at or self._policy(PolicyCause.MANUAL).ends(n, self.now)
        reserved_for = n.reserved_for  # the flag stays; move() sets a new one where none is set
        return _Move(
            values={"state": transition_target(A.RESERVE, n.state), "organization": org,
                    "subscription": None, "reserved_for": reserved_for, "expires_at": ends,
                    "after_cooling_state": ""},
            action=A.RESERVE,
            reservation={"kind": ReservationKind.MANUAL, "organization": org,
                         "reserved_for": reserved_for, "ends_at": ends},
        )

    def _assign(self, n: PhoneNumber, row: ImportRow) -> _Move:
        if row.subscription is None:
            return _Move(refusal=("subscription", "an assigned row needs the subscription (uuid), "
                                                  "or a client with one active service subscription"))
        sub, reason = self._subs.get(row.subscription.pk, (None, "Unknown subscription."))
        if sub is None:
            return _Move(refusal=("subscription", reason))
        if row.organization is not None and sub.organization_id != row.organization.pk:
            return _Move(refusal=("organization", f"the subscription belongs to {sub.organization.name}, "
                                                  f"not {row.organization.name}"))
        if refused := refusal_reason(n, A.ASSIGN) or assign_refusal(n, sub, self.names):
            return _Move(refusal=("state", refused))
        if refused := self.allowance.take(sub):
            return _Move(refusal=("subscription", refused))
        return _Move(
            values=assign_values(sub, transition_target(A.ASSIGN, n.state)), action=A.ASSIGN,
            close=ReservationStatus.ASSIGNED if n.state == S.RESERVED else None,
        )


def _import_new_number(row: ImportRow, skus: dict[int, Sku], now: dt.datetime) -> PhoneNumber:
    sku = skus[row.attrs["sku_id"]]
    values = {"voice": sku.voice, "sms": sku.sms, "fax": sku.fax, **row.attrs}
    return PhoneNumber(e164=row.e164, country=row.country, state=S.AVAILABLE,
                       state_changed_at=now, created_at=now, updated_at=now, **values)


def numbers_import(*, rows: Sequence[ImportRow], actor: Any, remark: str, dry_run: bool = False,
                   now: dt.datetime | None = None, allowance: Allowance | None = None,
                   later: Later | None = None) -> ImportOutcome:
    """Create or update numbers from checked import rows, set-wise, in one transaction.

    New numbers are inserted (COPY on PostgreSQL) with one history row each; existing
    numbers are compared first, and only those whose values differ are locked, written
    (write_numbers) and get a history row, so re-importing a file changes nothing. State
    and holder columns go through _ImportRules (policies, allowance, reservations). A
    refused row changes nothing. `dry_run` decides everything and writes nothing.
    `allowance`: one for every chunk of a file, so that a preview (which writes nothing)
    counts the whole file against each subscription's allowance, as the import does.
    `later` (PostgreSQL): the new rows' history is left running in it while the caller reads
    its next chunk; the next call waits for it first, and the caller before its commit.
    """
    remark = require_remark(remark)
    now = now or timezone.now()
    outcome = ImportOutcome()
    if later is not None:
        later.wait()
    with transaction.atomic():
        kept: set[int] = set()  # rows known unchanged without reading their number
        if connection.vendor == "postgresql" and rows:
            # Set-wise first: only the rows that are new or differ are read as numbers. A
            # chunk of mostly new rows (a first import) is probed for the rows that exist
            # and only those are diffed; one of mostly known rows (a re-import) is diffed
            # whole, which names the new rows too. A sample of the chunk tells which.
            sample = [row.e164 for row in rows[:: max(1, len(rows) // 50)]]
            if 2 * len(unique_present(PhoneNumber, "e164", sample)) > len(sample):
                diffed = list(range(len(rows)))
            else:
                present = unique_present(PhoneNumber, "e164", [row.e164 for row in rows])
                diffed = [i for i, row in enumerate(rows) if row.e164 in present]
            new, differ = unique_diff(PhoneNumber, "e164", [
                (rows[i].e164, rows[i].attrs, bool(rows[i].state) or rows[i].reserved_for is not None)
                for i in diffed]) if diffed else (set(), set())
            wanted = [rows[diffed[i]].e164 for i in sorted(differ)]
            found = rows_by_unique(PhoneNumber, "e164", wanted) if wanted else []
            kept = set(diffed) - {diffed[i] for i in (*new, *differ)}
        else:
            found = rows_by_unique(PhoneNumber, "e164", [row.e164 for row in rows])
        existing: dict[str, PhoneNumber] = {n.e164: n for n in found}  # type: ignore[attr-defined]
        rules = _ImportRules(now=now, names=org_names(n.organization_id for n in existing.values()),
                             actor=actor, allowance=allowance)
        plain: list[ImportRow] = []  # new, available: no rule beyond "does not exist yet"
        tenanted: list[ImportRow] = []  # new, to be reserved, locked or assigned
        candidates: list[ImportRow] = []
        for index, row in enumerate(rows):
            if index in kept:
                outcome.unchanged += 1
                continue
            n = existing.get(row.e164)
            if n is None:
                plain_row = (not row.state or row.state == S.AVAILABLE) and not row.reserved_for
                (plain if plain_row else tenanted).append(row)
            elif rules.may_change(row, n):
                candidates.append(row)
            else:
                outcome.unchanged += 1
        rules.lock_subscriptions([*candidates, *tenanted])
        if candidates and not dry_run:
            # Decide again on locked, fresh rows: someone may have acted since the read.
            existing.update((n.e164, n) for n in numbers_lock([existing[r.e164] for r in candidates]))
        batch = Batch(actor=actor, remark=remark, now=now, action="update")
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
            batch.change(n, action=move.action or None, **attrs, **move.values)
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
        copied = plain if plain and connection.vendor == "postgresql" else []
        if not copied:
            created.extend(_import_new_number(row, skus, now) for row in plain)
        # New available numbers look alike: one snapshot per partner they are offered to.
        available = {vid: NumberSnapshot(state=S.AVAILABLE, visible_to_id=vid)
                     for vid in {r.attrs.get("visible_to_id") for r in copied}}
        # The events are built in a thread while PostgreSQL writes the numbers, and written after.
        added = numbers_added_draft(
            added=[*((r.e164, available[r.attrs.get("visible_to_id")]) for r in copied),
                   *((n.e164, NumberSnapshot.of(n)) for n in created)],
            actor=actor_or_system(actor), remark=remark, now=now, background=True)
        history: list[Statement] = []
        try:
            if copied:
                history = _import_copy_new(copied, skus, actor=actor, remark=remark, now=now)
            if created:
                _import_insert(created, tenancies, actor=actor, remark=remark, now=now)
        except IntegrityError:
            raise ServiceError(ADDED_MEANWHILE) from None
        added.write()
        # Last: nothing reads these rows' history, so it may run while the caller goes on.
        statements_run(history, later=later)
    return outcome


_STAGED = ("e164", "country", "vendor_id", "sku_id", "voice", "sms", "fax", "routing", "is_golden",
           "is_ported_in", "visible_to_id", "tags", "notes", "after_hold_state", "hold_days")


def _import_copy_new(rows: list[ImportRow], skus: dict[int, Sku], *, actor: Any, remark: str,
                     now: dt.datetime) -> list[Statement]:
    """New available numbers by COPY (inventory.bulk); returns their history's statements."""
    defaults = {pk: (s.voice, s.sms, s.fax) for pk, s in skus.items()}
    after_hold = PhoneNumber._meta.get_field("after_hold_state").get_default()

    def values() -> Any:
        for row in rows:
            a = row.attrs
            voice, sms, fax = defaults[a["sku_id"]]
            yield (row.e164, row.country, a["vendor_id"], a["sku_id"], a.get("voice", voice),
                   a.get("sms", sms), a.get("fax", fax), a.get("routing", ""),
                   a.get("is_golden", False), a.get("is_ported_in", False), a.get("visible_to_id"),
                   a.get("tags", ""), a.get("notes", ""), a.get("after_hold_state", after_hold),
                   a.get("hold_days"))

    template = PhoneNumber(state=S.AVAILABLE, state_changed_at=now, created_at=now, updated_at=now)
    return copy_insert(PhoneNumber, template, _STAGED, values(), key="e164",
                       user_id=actor_or_system(actor).pk, reason=remark, date=now)


def _import_insert(created: list[PhoneNumber], tenancies: list[tuple[PhoneNumber, dict[str, Any]]],
                   *, actor: Any, remark: str, now: dt.datetime) -> None:
    user = actor_or_system(actor)
    try:
        with transaction.atomic():
            insert_objects(created)
            insert_history(created, history_type="+", user_id=user.pk, reason=remark, date=now)
            reservations: list[Reservation] = [
                reservation_build(n, now=now, remark=remark, actor=actor, **spec)
                for n, spec in tenancies
            ]
            reservations_open(reservations, now=now)
    except Exception as exc:
        if isinstance(exc, IntegrityError) or getattr(exc, "sqlstate", None) == "23505":
            raise IntegrityError(str(exc)) from None
        raise




def import_mapping_save(*, signature: str, columns: dict[str, str], vendor: str = "", sku: str = "",
                        country: str = "", actor: Any) -> ImportMapping:
    """Remember how files with these headers are read (columns: header → field, "" =
    ignore; the defaults for absent columns), for everyone's next file with the same
    headers. inventory.imports.header_plan checks a mapping before it is saved."""
    mapping = {"columns": dict(columns), "vendor": vendor.strip(), "sku": sku.strip(),
               "country": country.strip().upper()}
    with transaction.atomic():
        saved, created = ImportMapping.objects.select_for_update().get_or_create(
            header_signature=signature,
            defaults={"mapping": mapping, "created_by": actor if getattr(actor, "pk", None) else None})
        if not created and saved.mapping != mapping:
            saved.mapping = mapping
            saved.save(update_fields=["mapping", "updated_at"])
    return saved
