"""Expiry sweep: 100,000 and then 1,000,000 due reservations and locks, with history rows,
lock-expired notices and domain events; each followed by a second run that must be a no-op.

The due rows live in the bench's own range (`RANGES["expiry"]`, outside the data set at
every size) and end in the past; the sweep runs with an explicit `now` just after that
end, so no row of the data set is due. The sweep commits its batches for real (as in
production); everything it wrote (numbers, history, reservations, notices, events and
their scopes and webhook deliveries) is deleted after each size.

Alone: `python -m bench expiry`; `BENCH_EXPIRY_SIZES=100000` runs one size only.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import time

from django.db import connection, transaction

from bench.common import RANGES, report

START = RANGES["expiry"]
CAPACITY = 1_100_000  # the range's size (bench/common.py)
SIZES = [int(s) for s in os.environ.get("BENCH_EXPIRY_SIZES", "100000,1000000").split(",") if s]
TARGETS = {100_000: 10.0, 1_000_000: 60.0}  # seconds (DESIGN §8)
LOCK_SHARE = 10  # one number in ten is a lock, visible to the bench partner (→ notices)
ENDED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = ENDED + dt.timedelta(days=1)
FIRST, LAST = f"+{START}", f"+{START + CAPACITY - 1}"  # all the same length: text order is number order
RANGE_SQL = "e164 BETWEEN %s AND %s"
RANGE = [FIRST, LAST]


def _events_after(event_id: int) -> str:
    return (f"SELECT id FROM events_event WHERE id > {int(event_id)} AND type = 'number.expired' "
            f"AND occurred_at = '{NOW.isoformat()}'")


def _cleanup(event_id: int | None = None) -> None:
    """Delete everything in the range and, given the last event id before the sweep, the
    sweep's events (those after it, at the sweep's `now`) with what hangs on them."""
    with transaction.atomic(), connection.cursor() as cursor:
        if event_id is not None:
            events = _events_after(event_id)
            cursor.execute(f"DELETE FROM events_deliveryattempt WHERE delivery_id IN "
                           f"(SELECT id FROM events_webhookdelivery WHERE event_id IN ({events}))")
            for table in ("events_webhookdelivery", "events_eventorganization"):
                cursor.execute(f"DELETE FROM {table} WHERE event_id IN ({events})")
            cursor.execute(f"DELETE FROM events_event WHERE id IN ({events})")
        cursor.execute(f"CREATE TEMP TABLE bench_expiry_ids ON COMMIT DROP AS "
                       f"SELECT id FROM inventory_phonenumber WHERE {RANGE_SQL}", RANGE)
        cursor.execute("SELECT count(*) FROM bench_expiry_ids")
        if not cursor.fetchone()[0]:
            return
        cursor.execute("ALTER TABLE bench_expiry_ids ADD PRIMARY KEY (id)")
        # Fresh statistics first: the foreign keys' checks of these deletes run at commit with
        # a generic plan, and one made from a stale "empty" notice table seq-scans it once per
        # deleted reservation (a 100k cleanup took minutes).
        for table in ("bench_expiry_ids", "notifications_notice", "inventory_reservation"):
            cursor.execute(f"ANALYZE {table}")
        for table, column in (("notifications_notice", "number_id"),
                              ("inventory_reservation", "number_id"),
                              ("inventory_historicalphonenumber", "id"),
                              ("inventory_phonenumber", "id")):
            cursor.execute(f"DELETE FROM {table} t USING bench_expiry_ids b WHERE t.{column} = b.id")


def _load(data, count: int) -> None:
    """COPY the due numbers and their active reservations (test data, not under test)."""
    customers, partner = data["customers"], data["partner"]
    cols = ("e164, country, vendor_id, sku_id, voice, sms, fax, routing, is_golden, is_ported_in, "
            "visible_to_id, state, state_changed_at, expires_at, organization_id, subscription_id, "
            "reserved_for, tags, notes, delete_reason, after_cooling_state, after_hold_state, created_at, "
            "updated_at")
    started = "2025-12-04 00:00:00+00"
    vendor, sku, ended = str(data["vendor"].pk), str(data["sku"].pk), ENDED.isoformat()
    with transaction.atomic():
        with connection.connection.cursor() as raw, raw.copy(
                f"COPY inventory_phonenumber ({cols}) FROM STDIN") as copy:
            for first in range(0, count, 100_000):
                buf = io.StringIO()
                for i in range(first, min(first + 100_000, count)):
                    locked = i % LOCK_SHARE == 0
                    buf.write("\t".join([
                        f"+{START + i}", "SG", vendor, sku, "t", "f", "f", "bench-expiry", "f", "f",
                        str(partner.pk) if locked else r"\N", "locked" if locked else "reserved",
                        started, ended, r"\N" if locked else str(customers[i % len(customers)].pk),
                        r"\N", "", "", "", "", "", "reserved", started, started,
                    ]) + "\n")
                copy.write(buf.getvalue())
        with connection.cursor() as cursor:
            cursor.execute(f"""
                INSERT INTO inventory_reservation (number_id, kind, organization_id, reserver_name,
                  notice_email, reserved_for, starts_at, ends_at, status, remark, created_at)
                SELECT n.id, CASE WHEN n.state = 'locked' THEN 'lock' ELSE 'manual' END,
                       n.organization_id, '', '', '', n.state_changed_at, n.expires_at, 'active',
                       'bench expiry', n.created_at
                FROM inventory_phonenumber n WHERE {RANGE_SQL}
            """, RANGE)
    with connection.cursor() as cursor:
        for table in ("inventory_phonenumber", "inventory_reservation"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def _one(data, count: int) -> None:
    from django.conf import settings
    from django.db.models import IntegerField, Max, Sum
    from django.db.models.fields.json import KT
    from django.db.models.functions import Cast

    from events.models import Event
    from inventory.models import PhoneNumber
    from inventory.services import numbers_expire_due, system_user
    from notifications.models import Notice

    locks = -(-count // LOCK_SHARE)
    _cleanup()
    load_start = time.perf_counter()
    _load(data, count)
    print(f"bench expiry: {count:,} due numbers loaded in {time.perf_counter() - load_start:.1f} s",
          flush=True)
    last_event = Event.objects.aggregate(m=Max("pk"))["m"] or 0
    try:
        due_elsewhere = PhoneNumber.objects.filter(
            state__in=["reserved", "locked", "cooling", "hold"], expires_at__lte=NOW
        ).exclude(e164__range=RANGE).count()
        if due_elsewhere:
            print(f"bench expiry: {due_elsewhere} other numbers are due at {NOW:%Y-%m-%d}; "
                  "they are swept too", flush=True)

        start = time.perf_counter()
        expired = numbers_expire_due(now=NOW)
        first = time.perf_counter() - start

        start = time.perf_counter()
        again = numbers_expire_due(now=NOW)
        second = time.perf_counter() - start

        ours = PhoneNumber.objects.filter(e164__range=RANGE)
        available = ours.filter(state="available").count()
        history = PhoneNumber.history.filter(
            e164__range=RANGE, history_change_reason__in=["reservation expired", "lock expired"])
        history_rows = history.count()
        system_rows = history.filter(history_user=system_user()).count()
        notices = Notice.objects.filter(number__e164__range=RANGE, kind="lock_expired").count()
        events = Event.objects.filter(pk__gt=last_event, type="number.expired", occurred_at=NOW)
        told = events.aggregate(n=Sum(Cast(KT("data__count"), IntegerField())))["n"] or 0
        event_count = events.count()
        largest = events.aggregate(m=Max(Cast(KT("data__count"), IntegerField())))["m"] or 0
        # One event per batch, kind of end (reserved, locked) and 1,000 numbers: at most one
        # part-filled event per batch and kind beyond the full ones.
        batches = -(-(count + due_elsewhere) // 5000)
        target = TARGETS.get(count, 10.0 * count / 100_000)
        ok = (first <= target and expired == count + due_elsewhere and available == count
              and history_rows == count and system_rows == count and notices == locks
              and told == count + due_elsewhere and largest <= 1000
              and event_count <= told // 1000 + 2 * batches)
        report(f"expiry sweep, {count:,} due reservations and locks", first, "s",
               f"<= {target:g} s", ok,
               f"{expired:,} expired, {count / first:,.0f}/s on {settings.SWEEP_WORKERS} "
               f"connections; {history_rows:,} history rows "
               f"({system_rows:,} by '{settings.SYSTEM_USERNAME}'), {notices:,} lock notices, "
               f"{event_count:,} events telling {told:,} numbers")
        report(f"expiry sweep of {count:,}, second run straight after", again, "rows",
               "0 rows changed", again == 0, f"{second:.2f} s")
    finally:
        _cleanup(last_event)


def run(data) -> None:
    for count in SIZES:
        if count > CAPACITY:
            raise SystemExit(f"bench expiry: {count:,} is more than the range holds ({CAPACITY:,})")
        _one(data, count)
