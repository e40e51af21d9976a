"""Import of a CSV of N_NUMBERS rows (1M, or 10M with BENCH_NUMBERS=10000000), beside its
floor measured in the same run, a re-import with 1% of the rows changed, and
django-import-export's ModelResource (use_bulk=True).

- floor: `psql \\copy` of the same file into a table made `LIKE inventory_phonenumber
  INCLUDING ALL` (the same indexes and checks; vendor and SKU kept as text) plus `psql
  \\copy` of the same rows as history rows (a CSV prepared beforehand) into a table made
  `LIKE inventory_historicalphonenumber INCLUDING ALL`; only the two \\copy are timed;
- ours: `manage.py import_numbers FILE` in a child process: checks every row, diffs
  against the table, writes the numbers, one history row each and the number.added events;
  peak RSS sampled from the running child;
- re-import (at most 1,000,000 rows): the same file with every 100th row's notes changed;
  exactly those rows must get a second history row;
- peer: PhoneNumberResource with use_bulk=True on a sample, extrapolated in rows/s.

The numbers (bench.common.RANGES["import"] and ["import_peer"]: Singapore mobile numbers,
none in the data set nor in another bench's range) are deleted again, with their history,
reservations and the events the imports wrote.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.db import connection

from bench.common import N_NUMBERS, RANGES, report, run_child

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", str(N_NUMBERS)))
PEER_ROWS = int(os.environ.get("BENCH_IMPORT_PEER_ROWS", "20000"))
REIMPORT_MAX = 1_000_000  # the re-import figure runs up to this size
NULL = r"\N"  # the history file's NULL (an empty cell is an empty string)
CHANGED_EVERY = 100  # 1% of the rows changed in the re-import
BASE = RANGES["import"]
PEER_BASE = RANGES["import_peer"]
COPY_TABLE = "bench_import_copy"
COPY_HISTORY = "bench_import_copy_history"
HEADER = ["number", "country", "vendor", "sku", "capabilities", "routing", "golden", "ported_in",
          "tags", "notes"]
CAPS = ["voice", "voice;sms", "voice;sms;fax", "sms"]
CAP_FLAGS = [("t", "f", "f"), ("t", "t", "f"), ("t", "t", "t"), ("f", "t", "f")]
HISTORY_COLUMNS = ["id", "e164", "country", "vendor_id", "sku_id", "voice", "sms", "fax", "routing",
                   "is_golden", "is_ported_in", "visible_to_id", "state", "state_changed_at",
                   "expires_at", "organization_id", "subscription_id", "reserved_for", "tags", "notes",
                   "delete_reason", "after_cooling_state", "after_hold_state", "hold_days", "created_at",
                   "history_date", "history_user_id", "history_change_reason", "history_type"]


def _notes(i: int, changed: bool) -> str:
    return f"bench import row {i}" + (" (changed)" if changed and i % CHANGED_EVERY == 0 else "")


def write_file(path: Path, rows: int, base: int, vendor: str, sku: str, *, changed: bool = False) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow([f"+{base + i}", "SG", vendor, sku, CAPS[i % 4], f"trunk-{i % 40}",
                             "yes" if i % 97 == 0 else "no", "yes" if i % 31 == 0 else "no",
                             f"bench-import;batch-{i % 10}", _notes(i, changed)])


def write_history_file(path: Path, rows: int, base: int, vendor_id: int, sku_id: int,
                       user_id: int | None, reason: str) -> None:
    """The same rows as history rows (what the import writes for each), for the floor."""
    now = "2026-12-01 00:00:00+00"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HISTORY_COLUMNS)
        for i in range(rows):
            voice, sms, fax = CAP_FLAGS[i % 4]
            writer.writerow([
                i + 1, f"+{base + i}", "SG", vendor_id, sku_id, voice, sms, fax, f"trunk-{i % 40}",
                "t" if i % 97 == 0 else "f", "t" if i % 31 == 0 else "f", NULL, "available", now, NULL,
                NULL, NULL, "", f";batch-{i % 10};bench-import;", _notes(i, False), "", "", "reserved",
                NULL, now, now, NULL if user_id is None else user_id, reason, "+"])


def _delete_range(base: int, rows: int, remarks: list[str]) -> None:
    """Delete this bench's numbers, their history, reservations and the imports' events."""
    bounds = [f"+{base}", f"+{base + rows - 1}"]
    ours = "SELECT id FROM inventory_phonenumber WHERE e164 BETWEEN %s AND %s"
    events = "SELECT id FROM events_event WHERE remark = ANY(%s)"  # the files' names: ours alone
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM inventory_historicalphonenumber WHERE id IN ({ours})", bounds)
        cursor.execute(f"DELETE FROM inventory_reservation WHERE number_id IN ({ours})", bounds)
        cursor.execute("DELETE FROM inventory_phonenumber WHERE e164 BETWEEN %s AND %s", bounds)
        if remarks:
            cursor.execute("DELETE FROM events_deliveryattempt WHERE delivery_id IN (SELECT id FROM "
                           f"events_webhookdelivery WHERE event_id IN ({events}))", [remarks])
            cursor.execute(f"DELETE FROM events_webhookdelivery WHERE event_id IN ({events})", [remarks])
            cursor.execute(f"DELETE FROM events_eventorganization WHERE event_id IN ({events})", [remarks])
            cursor.execute(f"DELETE FROM events_event WHERE id IN ({events})", [remarks])


def _psql_url() -> str:
    return os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)


def _psql_copy(command: str) -> float:
    start = time.perf_counter()
    subprocess.run(["psql", _psql_url(), "-v", "ON_ERROR_STOP=1", "-q", "-c", command], check=True)
    return time.perf_counter() - start


def copy_floor(path: Path, history_path: Path) -> float:
    """The floor: `psql \\copy` of the file and of its history rows into equally indexed
    plain tables; the two \\copy timed, summed."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}, {COPY_HISTORY}")
        cursor.execute(f"CREATE TABLE {COPY_TABLE} (LIKE inventory_phonenumber INCLUDING ALL)")
        cursor.execute(f"ALTER TABLE {COPY_TABLE} ALTER COLUMN vendor_id TYPE text, "
                       "ALTER COLUMN sku_id TYPE text, ADD COLUMN capabilities text")
        defaults = {"state": "'available'", "state_changed_at": "now()", "created_at": "now()",
                    "updated_at": "now()", "voice": "true", "sms": "false", "fax": "false",
                    "reserved_for": "''", "delete_reason": "''", "after_cooling_state": "''",
                    "after_hold_state": "'reserved'"}
        cursor.execute(f"ALTER TABLE {COPY_TABLE} "
                       + ", ".join(f"ALTER COLUMN {c} SET DEFAULT {v}" for c, v in defaults.items()))
        cursor.execute(f"CREATE TABLE {COPY_HISTORY} (LIKE inventory_historicalphonenumber INCLUDING ALL)")
        cursor.execute("SELECT tablename, count(*) FROM pg_indexes WHERE tablename IN (%s, %s) "
                       "GROUP BY 1", [COPY_TABLE, COPY_HISTORY])
        indexes = dict(cursor.fetchall())
    numbers = _psql_copy(
        f"\\copy {COPY_TABLE} (e164, country, vendor_id, sku_id, capabilities, routing, is_golden, "
        f"is_ported_in, tags, notes) FROM '{path}' WITH (FORMAT csv, HEADER true)")
    history = _psql_copy(
        f"\\copy {COPY_HISTORY} ({', '.join(HISTORY_COLUMNS)}) FROM '{history_path}' "
        "WITH (FORMAT csv, HEADER true, NULL '\\N')")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT (SELECT count(*) FROM {COPY_TABLE}), (SELECT count(*) FROM {COPY_HISTORY})")
        copied = cursor.fetchone()
        cursor.execute(f"DROP TABLE {COPY_TABLE}, {COPY_HISTORY}")
    assert copied == (ROWS, ROWS), copied
    print(f"  floor: psql \\copy of {ROWS:,} rows into a table with {indexes.get(COPY_TABLE)} indexes "
          f"{numbers:.1f} s + of their history rows ({indexes.get(COPY_HISTORY)} indexes) "
          f"{history:.1f} s = {numbers + history:.1f} s", flush=True)
    return numbers + history


def import_child(path: Path) -> tuple[float, float, str]:
    """Run manage.py import_numbers in a child; (seconds, peak RSS in MB, its output)."""
    manage = Path(__file__).resolve().parents[1] / "manage.py"
    # A carrier's full file is bigger than the upload bounds' defaults (2,000,000 rows, 200 MB):
    # the operator raises them for the command, as the README's Configuration says.
    os.environ["IMPORT_MAX_ROWS"] = str(max(ROWS, 2_000_000))
    os.environ["IMPORT_MAX_BYTES"] = str(max(path.stat().st_size + 1, 200 * 2**20))
    elapsed, rss, code, text = run_child([sys.executable, str(manage), "import_numbers", str(path)])
    if code != 0:
        raise SystemExit(f"import_numbers failed ({code}): {text[-2000:]}")
    return elapsed, rss, text


def _counts(remark: str) -> tuple[int, int, int, int]:
    """(numbers, history rows, numbers with 2+ history rows, numbers in events) of our range."""
    bounds = [f"+{BASE}", f"+{BASE + ROWS - 1}"]
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH n AS (SELECT id FROM inventory_phonenumber WHERE e164 BETWEEN %s AND %s), "
            "h AS (SELECT id, count(*) AS c FROM inventory_historicalphonenumber "
            "WHERE id IN (SELECT id FROM n) GROUP BY id) "
            "SELECT (SELECT count(*) FROM n), (SELECT coalesce(sum(c), 0) FROM h), "
            "(SELECT count(*) FROM h WHERE c > 1), "
            "(SELECT coalesce(sum((data->>'count')::int), 0) FROM events_event WHERE remark = %s)",
            [*bounds, remark])
        return tuple(int(v) for v in cursor.fetchone())  # type: ignore[return-value]


def peer_rates(path: Path) -> tuple[float, float]:
    """django-import-export ModelResource, use_bulk=True (no history): rows per second.

    (out of the box: a query per row for each foreign key and for the instance, as the
    library ships; tuned: bench.resources' cached widgets and CachedInstanceLoader).
    """
    import tablib
    from import_export import fields, instance_loaders, widgets

    from bench.resources import PhoneNumberResource
    from inventory.models import Sku, Vendor

    class Tuned(PhoneNumberResource):
        class Meta(PhoneNumberResource.Meta):
            use_bulk = True
            batch_size = 1000

    class OutOfTheBox(Tuned):
        vendor = fields.Field(attribute="vendor", column_name="vendor",
                              widget=widgets.ForeignKeyWidget(Vendor, "name"))
        sku = fields.Field(attribute="sku", column_name="sku", widget=widgets.ForeignKeyWidget(Sku, "code"))

        class Meta(Tuned.Meta):
            instance_loader_class = instance_loaders.ModelInstanceLoader

    rates = []
    for resource in (OutOfTheBox(), Tuned()):
        dataset = tablib.Dataset().load(path.read_text(encoding="utf-8"), format="csv")
        start = time.perf_counter()
        result = resource.import_data(dataset, dry_run=False, raise_errors=True)
        elapsed = time.perf_counter() - start
        assert not result.has_errors() and not result.has_validation_errors()
        rates.append(len(dataset) / elapsed)
        _delete_range(PEER_BASE, PEER_ROWS, [])
    return rates[0], rates[1]


def run(data) -> None:
    from django.contrib.auth import get_user_model

    from inventory.services.results import actor_or_system

    vendor, sku = data["vendor"], data["sku"]
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    tag = f"{os.getpid()}"
    big = workdir / f"bench-import-{tag}.csv"
    changed = workdir / f"bench-reimport-{tag}.csv"
    history = workdir / f"bench-import-history-{tag}.csv"
    small = workdir / f"bench-import-peer-{tag}.csv"
    remarks = [big.name, changed.name]
    reimport = ROWS <= REIMPORT_MAX
    user = actor_or_system(None)
    assert user is None or isinstance(user, get_user_model())
    try:
        _delete_range(BASE, ROWS, remarks)  # leftovers of an interrupted run
        _delete_range(PEER_BASE, PEER_ROWS, [])
        write_file(big, ROWS, BASE, vendor.name, sku.code)
        write_history_file(history, ROWS, BASE, vendor.pk, sku.pk, getattr(user, "pk", None), big.name)
        if reimport:
            write_file(changed, ROWS, BASE, vendor.name, sku.code, changed=True)
        write_file(small, PEER_ROWS, PEER_BASE, vendor.name, sku.code)
        print(f"  file: {ROWS:,} rows, {big.stat().st_size / 2**20:.0f} MB", flush=True)

        floor = copy_floor(big, history)
        history.unlink()
        ours, rss_mb, output = import_child(big)
        print(f"  import_numbers: {output.splitlines()[-1] if output else ''}", flush=True)
        created, history_rows, twice, evented = _counts(big.name)
        assert (created, history_rows, twice, evented) == (ROWS, ROWS, 0, ROWS), \
            (created, history_rows, twice, evented)
        again = again_rss = 0.0
        if reimport:
            again, again_rss, output = import_child(changed)
            print(f"  re-import: {output.splitlines()[-1] if output else ''}", flush=True)
            want = len(range(0, ROWS, CHANGED_EVERY))
            got = _counts(changed.name)
            assert got == (ROWS, ROWS + want, want, want), (got, want)
        _delete_range(BASE, ROWS, remarks)

        peer, tuned = peer_rates(small)
    finally:
        for f in (big, changed, history, small):
            f.unlink(missing_ok=True)
        workdir.rmdir()

    ratio = ours / floor
    ours_rate = ROWS / ours
    report(f"import {ROWS:,}-row CSV (x floor: \\copy numbers + history)", ratio, "x", "<= 2 x",
           ratio <= 2, f"{ours:.1f} s vs floor {floor:.1f} s; {ours_rate:,.0f} rows/s; history, "
                       "events + checks")
    report("import peak RSS (child process)", rss_mb, "MB", "<= 512 MB", rss_mb <= 512)
    if reimport:
        ratio = again / ours
        report("re-import with 1% changed (x first import)", ratio, "x", "<= 0.5 x", ratio <= 0.5,
               f"{again:.1f} s vs {ours:.1f} s; exactly {ROWS // CHANGED_EVERY:,} rows got history; "
               f"peak RSS {again_rss:.0f} MB")
    else:
        print(f"  re-import with 1% changed: skipped at {ROWS:,} rows (runs up to {REIMPORT_MAX:,})",
              flush=True)
    speedup = ours_rate / peer
    report("import vs import-export use_bulk, out of the box (x faster)", speedup, "x", ">= 25 x",
           speedup >= 25, f"{peer:,.0f} rows/s on {PEER_ROWS:,} rows, no history: {ROWS:,} in "
                          f"{ROWS / peer / 60:.0f} min")
    # Not DESIGN's figure: the same peer given cached vendor/SKU/instance lookups, to show how
    # much of the gap is its per-row queries. Reported beside the target, not judged by it.
    speedup = ours_rate / tuned
    report("import vs import-export use_bulk, cached lookups (x faster)", speedup, "x",
           "none (DESIGN's is out of box)", None,
           f"{tuned:,.0f} rows/s on {PEER_ROWS:,} rows, no history; vs the design's quoted "
           f"1,300 rows/s: {ours_rate / 1300:.1f} x")
