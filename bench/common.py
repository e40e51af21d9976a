"""Shared set-up for the scale benchmarks: Django on PostgreSQL and a 1,000,000-number data set.

The data set is loaded once with COPY (it is test data, not an import under test) and
reused by every benchmark; each benchmark leaves it as it found it.
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/numbermgmt_bench"
N_NUMBERS = int(os.environ.get("BENCH_NUMBERS", "1000000"))
PARTNER_SHARE = N_NUMBERS // 10  # numbers held by the benchmark partner and its customers
BASE = 6560000000  # +65 6000 0000 onwards: valid Singapore fixed-line numbers (10M: all of 6xxx xxxx)
# Each bench's own numbers: Singapore mobile ranges (8100 0000–9899 9999 are all valid), never
# inside the data set at any BENCH_NUMBERS up to 20M. One place, so no two benches overlap.
RANGES = {
    "import": 6581000000,  # up to 10,000,000 rows: +6581000000…+6590999999
    "import_peer": 6591000000,  # 20,000 rows for django-import-export
    "expiry": 6592000000,  # 1,100,000 due reservations and locks
    "foundation": 6594000000,  # add range, bulk reserve, allocation
    "dashboard": 6595000000,  # numbers with history, for the number page
    "webhooks": 6596000000,
    "api": 6597000000,
}
assert min(RANGES.values()) >= BASE + N_NUMBERS, "BENCH_NUMBERS too large for the bench ranges"
RESULTS: list[tuple[str, bool | None]] = []


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numbermgmt.settings")
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("ALLOWED_HOSTS", "*")
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if url.endswith("/numbermgmt"):
        url = url + "_bench"  # never benchmark on the development database
        if N_NUMBERS != 1_000_000:
            url += f"_{N_NUMBERS}"  # one database per size: a 10M set never serves a 1M run
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("make bench needs PostgreSQL (DATABASE_URL=postgres://…)")
    _create_database(url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _create_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def machine() -> str:
    import psutil

    freq = psutil.cpu_freq()
    return (
        f"{platform.node()} · {os.cpu_count()} cores"
        f"{f' @ {freq.max or freq.current:.0f} MHz' if freq else ''} · "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB · {platform.python_version()}"
    )


def report(name: str, value: float, unit: str, target: str, ok: bool | None,
           extra: str = "") -> None:
    """One figure beside its target. ok=None: informational, judged by no target."""
    status = "INFO" if ok is None else "PASS" if ok else "FAIL"
    line = f"{name:<58} {value:>12,.2f} {unit:<10} target {target:<28} {status}"
    if extra:
        line += f"  ({extra})"
    RESULTS.append((line, ok))
    print(line, flush=True)


def median_time(fn: Callable[[], object], *, repeat: int = 5, setup: Callable | None = None):
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


@contextmanager
def timer():
    box = {}
    start = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - start


def vacuum() -> None:
    """VACUUM ANALYZE the tables the benchmarks churn, so each starts from fresh statistics."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("inventory_phonenumber", "inventory_historicalphonenumber",
                      "inventory_reservation", "notifications_notice"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def dataset() -> dict:
    """Ensure the 1M-number data set exists; return the ids the benchmarks use."""
    from django.db import connection

    from inventory.models import PhoneNumber, Sku, Vendor
    from subscriptions.models import Organization, Subscription

    vendor, _ = Vendor.objects.get_or_create(name="Bench Vendor")
    sku, _ = Sku.objects.get_or_create(code="BENCH-STD", defaults={"name": "Bench"})
    partner, _ = Organization.objects.get_or_create(
        name="Bench Partner", kind="partner",
        defaults={"owner_email": "owner@bench.example", "support_email": "support@bench.example",
                  "domain": "bench.example"},
    )
    other, _ = Organization.objects.get_or_create(
        name="Other Bench Partner", kind="partner",
        defaults={"owner_email": "owner@other.example", "support_email": "s@other.example"},
    )
    customers = []
    for i in range(10):
        org, _ = Organization.objects.get_or_create(
            name=f"Bench Customer {i}", kind="customer", parent=partner,
            defaults={"billing_email": f"billing{i}@bench.example"},
        )
        customers.append(org)
    other_customer, _ = Organization.objects.get_or_create(
        name="Other Bench Customer", kind="customer", parent=other,
        defaults={"billing_email": "b@other.example"},
    )
    subs = []
    for org in customers:
        sub = Subscription.objects.filter(organization=org, kind="service").first()
        subs.append(sub or Subscription.objects.create(organization=org, kind="service", plan="Bench"))
    other_sub = Subscription.objects.filter(organization=other_customer, kind="service").first() or \
        Subscription.objects.create(organization=other_customer, kind="service", plan="Bench")

    present = PhoneNumber.objects.filter(e164__startswith="+656").count()
    if present != N_NUMBERS:
        _load_numbers(connection, vendor.pk, sku.pk, partner, customers, subs, other, other_customer,
                      other_sub)
    vacuum()
    return {"vendor": vendor, "sku": sku, "partner": partner, "customers": customers,
            "subscriptions": subs, "other_partner": other, "other_customer": other_customer}


def _load_numbers(connection, vendor_id, sku_id, partner, customers, subs, other, other_customer,
                  other_sub) -> None:
    """COPY N_NUMBERS rows: 100k held by the bench partner's group, the rest spread over states."""
    print(f"bench: loading {N_NUMBERS:,} numbers (one time)…", flush=True)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM inventory_historicalphonenumber")
        cursor.execute("DELETE FROM notifications_notice")
        cursor.execute("DELETE FROM inventory_reservation")
        cursor.execute("DELETE FROM inventory_phonenumber")
    cols = ("e164, country, vendor_id, sku_id, voice, sms, fax, routing, is_golden, is_ported_in, "
            "visible_to_id, state, state_changed_at, expires_at, organization_id, subscription_id, "
            "reserved_for, tags, notes, delete_reason, after_cooling_state, after_hold_state, created_at, "
            "updated_at")
    buf = io.StringIO()
    now = "2026-11-01 00:00:00+00"
    for i in range(N_NUMBERS):
        e164 = f"+{BASE + i}"
        golden = "t" if i % 97 == 0 else "f"
        ported = "t" if i % 31 == 0 else "f"
        routing = f"trunk-{i % 50}"
        tags = f";batch-{i % 20};" if i % 3 == 0 else ""
        visible, state, expires, org, sub, reserved_for = r"\N", "available", r"\N", r"\N", r"\N", ""
        if i < PARTNER_SHARE:  # the bench partner's group
            c = i % len(customers)
            if i % 4 == 0:
                state, org, expires = "reserved", customers[c].pk, f"2026-12-{1 + i % 28:02d} 00:00:00+00"
            elif i % 4 == 1:
                state, org, sub = "assigned", customers[c].pk, subs[c].pk
            elif i % 4 == 2:
                state, visible = "available", partner.pk
            else:
                state, org, expires = "reserved", partner.pk, f"2026-12-{1 + i % 28:02d} 00:00:00+00"
        else:
            bucket = i % 100
            if bucket < 10:
                state, org, expires = "reserved", other_customer.pk, f"2026-12-{1 + i % 28:02d} 00:00:00+00"
            elif bucket < 25:
                state, org, sub = "assigned", other_customer.pk, other_sub.pk
            elif bucket < 28:
                state, expires = "locked", f"2027-01-{1 + i % 28:02d} 00:00:00+00"
            elif bucket < 29:
                state, expires = "cooling", "2027-01-15 00:00:00+00"
            elif bucket < 30:
                state = "deleted"
            elif bucket < 35:
                visible = other.pk
        buf.write("\t".join([
            e164, "SG", str(vendor_id), str(sku_id), "t", "f", "f", routing, golden, ported,
            str(visible), state, now, expires, str(org), str(sub), reserved_for, tags, "",
            "other" if state == "deleted" else "", "", "reserved", now, now,
        ]) + "\n")
    buf.seek(0)
    raw = connection.connection  # psycopg 3 connection
    with _indexes_set_aside(connection, "inventory_phonenumber"), raw.cursor() as cur, \
            cur.copy(f"COPY inventory_phonenumber ({cols}) FROM STDIN") as copy:
        while chunk := buf.read(1 << 20):
            copy.write(chunk)
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO inventory_reservation (number_id, kind, organization_id, reserver_name,
              notice_email, reserved_for, starts_at, ends_at, status, remark, created_at)
            SELECT n.id, CASE WHEN n.state = 'locked' THEN 'lock' ELSE 'manual' END,
                   n.organization_id, '', '', '', n.state_changed_at, n.expires_at, 'active',
                   'bench', n.created_at
            FROM inventory_phonenumber n WHERE n.state IN ('reserved', 'locked')
        """)
        cursor.execute("ANALYZE")
    connection.commit() if not connection.get_autocommit() else None
    print(f"bench: loaded in {time.perf_counter() - start:.1f} s", flush=True)


@contextmanager
def _indexes_set_aside(connection, table: str):
    """Drop the table's plain indexes (not its constraints' ones) for a bulk load and build
    them again after it: one sort per index instead of 10M inserts into each (test data).
    One transaction: a load that is stopped half-way leaves the indexes as they were."""
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
                       "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                       [table])
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        yield
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the COPY's deferred foreign-key checks
        for _, definition in indexes:
            cursor.execute(definition)


def run_child(argv: list[str]) -> tuple[float, float, int, str]:
    """Run a command; (seconds, peak RSS in MB, exit code, output).

    The peak is sampled from the running program every 20 ms. getrusage/wait4 would report
    the forking parent's size: Linux keeps the pre-exec high-water mark in ru_maxrss.
    """
    import subprocess
    import tempfile
    import threading

    import psutil

    peak = 0
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
        proc = psutil.Process(child.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, proc.memory_info().rss)
                except psutil.Error:
                    return
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = child.wait()
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
        out.seek(0)
        text = out.read().decode("utf-8", "replace").strip()
    return elapsed, peak / 2**20, code, text
