"""Expiry sweep: 100,000 due reservations and locks, with history rows and lock notices.

The due rows live in their own range (+6563000000…) and end in the past; the sweep runs
with an explicit `now` just after that end, so no row of the 1M data set is due. The sweep
commits its batches for real (as in production); everything in the range is deleted after.
"""

from __future__ import annotations

import datetime as dt
import io
import time

from django.db import connection, transaction

from bench.common import report

START = 6563000000
COUNT = 100_000
LOCKS = 10_000  # of the COUNT: locks, visible to the bench partner (→ lock-expired notices)
ENDED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = ENDED + dt.timedelta(days=1)
RANGE_SQL = "e164 LIKE '+6563%%'"


def _cleanup() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM inventory_phonenumber WHERE {RANGE_SQL}")
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return
        cursor.execute("CREATE TEMP TABLE bench_expiry_ids (id bigint PRIMARY KEY) ON COMMIT DROP")
        with connection.connection.cursor() as raw, raw.copy("COPY bench_expiry_ids FROM STDIN") as copy:
            for pk in ids:
                copy.write_row((pk,))
        for table, column in (("notifications_notice", "number_id"),
                              ("inventory_reservation", "number_id"),
                              ("inventory_historicalphonenumber", "id"),
                              ("inventory_phonenumber", "id")):
            cursor.execute(f"DELETE FROM {table} t USING bench_expiry_ids b WHERE t.{column} = b.id")


def _load(data) -> None:
    """COPY the due numbers and their active reservations (test data, not under test)."""
    customers, partner = data["customers"], data["partner"]
    cols = ("e164, country, vendor_id, sku_id, voice, sms, fax, routing, is_golden, is_ported_in, "
            "visible_to_id, state, state_changed_at, expires_at, organization_id, subscription_id, "
            "reserved_for, tags, notes, delete_reason, after_cooling_state, after_hold_state, created_at, "
            "updated_at")
    buf = io.StringIO()
    started = "2025-12-04 00:00:00+00"
    for i in range(COUNT):
        locked = i < LOCKS
        buf.write("\t".join([
            f"+{START + i}", "SG", str(data["vendor"].pk), str(data["sku"].pk), "t", "f", "f",
            "bench-expiry", "f", "f", str(partner.pk) if locked else r"\N",
            "locked" if locked else "reserved", started, ENDED.isoformat(),
            r"\N" if locked else str(customers[i % len(customers)].pk), r"\N", "", "", "", "", "",
            "reserved", started, started,
        ]) + "\n")
    buf.seek(0)
    with transaction.atomic():
        with connection.connection.cursor() as raw, raw.copy(
                f"COPY inventory_phonenumber ({cols}) FROM STDIN") as copy:
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
        with connection.cursor() as cursor:
            cursor.execute(f"""
                INSERT INTO inventory_reservation (number_id, kind, organization_id, reserver_name,
                  notice_email, reserved_for, starts_at, ends_at, status, remark, created_at)
                SELECT n.id, CASE WHEN n.state = 'locked' THEN 'lock' ELSE 'manual' END,
                       n.organization_id, '', '', '', n.state_changed_at, n.expires_at, 'active',
                       'bench expiry', n.created_at
                FROM inventory_phonenumber n WHERE {RANGE_SQL}
            """)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_phonenumber")
        cursor.execute("ANALYZE inventory_reservation")


def run(data) -> None:
    from django.conf import settings

    from inventory.models import PhoneNumber
    from inventory.services import numbers_expire_due, system_user
    from notifications.models import Notice

    _cleanup()
    _load(data)
    try:
        due_elsewhere = PhoneNumber.objects.filter(
            state__in=["reserved", "locked", "cooling"], expires_at__lte=NOW
        ).exclude(e164__startswith="+6563").count()
        if due_elsewhere:
            print(f"bench expiry: {due_elsewhere} other numbers are due at {NOW:%Y-%m-%d}; "
                  "they are swept too", flush=True)

        start = time.perf_counter()
        expired = numbers_expire_due(now=NOW)
        first = time.perf_counter() - start

        start = time.perf_counter()
        again = numbers_expire_due(now=NOW)
        second = time.perf_counter() - start

        ours = PhoneNumber.objects.filter(e164__startswith="+6563")
        available = ours.filter(state="available").count()
        history = PhoneNumber.history.filter(
            id__in=ours.values("pk"), history_change_reason__in=["reservation expired", "lock expired"])
        history_rows = history.count()
        system_rows = history.filter(history_user=system_user()).count()
        notices = Notice.objects.filter(number__in=ours, kind="lock_expired").count()
        ok = (first <= 10 and expired == COUNT + due_elsewhere and available == COUNT
              and history_rows == COUNT and system_rows == COUNT and notices == LOCKS)
        report("expiry sweep, 100,000 due reservations and locks", first, "s", "<= 10 s", ok,
               f"{expired:,} expired, {COUNT / first:,.0f}/s; {history_rows:,} history rows "
               f"({system_rows:,} by '{settings.SYSTEM_USERNAME}'), {notices:,} lock notices")
        report("expiry sweep, second run straight after", again, "rows", "0 rows changed",
               again == 0, f"{second:.2f} s")
    finally:
        _cleanup()
