"""Import of a 1,000,000-row CSV, side by side with `psql \\copy` of the same file and with
django-import-export's ModelResource (use_bulk=True).

- baseline: `psql \\copy` of the file into a plain table made `LIKE inventory_phonenumber
  INCLUDING ALL` (the same indexes and checks; vendor and SKU kept as text);
- ours: `manage.py import_numbers FILE` in a child process: checks every row, diffs
  against the table, writes the numbers and one history row each; peak RSS sampled from the running child;
- peer: PhoneNumberResource with use_bulk=True on a sample, extrapolated in rows/s.

The numbers (+6561000000…+6561999999, and +6562000000… for the peer: every one valid in
Singapore's numbering plan, none in the data set nor in another bench's range) are deleted
again, with their history.
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

from bench.common import report, run_child

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
PEER_ROWS = int(os.environ.get("BENCH_IMPORT_PEER_ROWS", "20000"))
BASE = 6561000000
PEER_BASE = 6562000000
COPY_TABLE = "bench_import_copy"
HEADER = ["number", "country", "vendor", "sku", "capabilities", "routing", "golden", "ported_in",
          "tags", "notes"]
CAPS = ["voice", "voice;sms", "voice;sms;fax", "sms"]


def write_file(path: Path, rows: int, base: int, vendor: str, sku: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow([f"+{base + i}", "SG", vendor, sku, CAPS[i % 4], f"trunk-{i % 40}",
                             "yes" if i % 97 == 0 else "no", "yes" if i % 31 == 0 else "no",
                             f"bench-import;batch-{i % 10}", f"bench import row {i}"])


def _delete_range(base: int, rows: int) -> None:
    """Delete this bench's numbers (and their history), exactly its own range."""
    bounds = [f"+{base}", f"+{base + rows - 1}"]
    ours = "SELECT id FROM inventory_phonenumber WHERE e164 BETWEEN %s AND %s"
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM inventory_historicalphonenumber WHERE id IN ({ours})", bounds)
        cursor.execute(f"DELETE FROM inventory_reservation WHERE number_id IN ({ours})", bounds)
        cursor.execute("DELETE FROM inventory_phonenumber WHERE e164 BETWEEN %s AND %s", bounds)


def _psql_url() -> str:
    return os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)


def copy_baseline(path: Path) -> float:
    """Time `psql \\copy` of the file into an equally indexed plain table."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        cursor.execute(f"CREATE TABLE {COPY_TABLE} (LIKE inventory_phonenumber INCLUDING ALL)")
        cursor.execute(f"ALTER TABLE {COPY_TABLE} ALTER COLUMN vendor_id TYPE text, "
                       "ALTER COLUMN sku_id TYPE text, ADD COLUMN capabilities text")
        defaults = {"state": "'available'", "state_changed_at": "now()", "created_at": "now()",
                    "updated_at": "now()", "voice": "true", "sms": "false", "fax": "false",
                    "reserved_for": "''", "delete_reason": "''", "after_cooling_state": "''"}
        cursor.execute(f"ALTER TABLE {COPY_TABLE} "
                       + ", ".join(f"ALTER COLUMN {c} SET DEFAULT {v}" for c, v in defaults.items()))
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [COPY_TABLE])
        indexes = cursor.fetchone()[0]
    command = (f"\\copy {COPY_TABLE} (e164, country, vendor_id, sku_id, capabilities, routing, "
               f"is_golden, is_ported_in, tags, notes) FROM '{path}' WITH (FORMAT csv, HEADER true)")
    start = time.perf_counter()
    subprocess.run(["psql", _psql_url(), "-v", "ON_ERROR_STOP=1", "-q", "-c", command], check=True)
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {COPY_TABLE}")
        copied = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {COPY_TABLE}")
    assert copied == ROWS, copied
    print(f"  psql \\copy: {copied:,} rows into a table with {indexes} indexes in {elapsed:.1f} s",
          flush=True)
    return elapsed


def import_child(path: Path) -> tuple[float, float, str]:
    """Run manage.py import_numbers in a child; (seconds, peak RSS in MB, its output)."""
    manage = Path(__file__).resolve().parents[1] / "manage.py"
    elapsed, rss, code, text = run_child([sys.executable, str(manage), "import_numbers", str(path)])
    if code != 0:
        raise SystemExit(f"import_numbers failed ({code}): {text[-2000:]}")
    return elapsed, rss, text


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
        _delete_range(PEER_BASE, PEER_ROWS)
    return rates[0], rates[1]


def run(data) -> None:
    from inventory.models import PhoneNumber

    vendor, sku = data["vendor"].name, data["sku"].code
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    big, small = workdir / "import-1m.csv", workdir / "import-peer.csv"
    try:
        _delete_range(BASE, ROWS)  # leftovers of an interrupted run
        _delete_range(PEER_BASE, PEER_ROWS)
        write_file(big, ROWS, BASE, vendor, sku)
        write_file(small, PEER_ROWS, PEER_BASE, vendor, sku)
        print(f"  file: {ROWS:,} rows, {big.stat().st_size / 2**20:.0f} MB", flush=True)

        copy_seconds = copy_baseline(big)
        ours, rss_mb, output = import_child(big)
        print(f"  import_numbers: {output.splitlines()[-1] if output else ''}", flush=True)
        ours_qs = PhoneNumber.objects.filter(e164__range=(f"+{BASE}", f"+{BASE + ROWS - 1}"))
        created = ours_qs.count()
        history = PhoneNumber.history.filter(id__in=ours_qs.values("id")).count()
        assert created == ROWS and history == ROWS, (created, history)
        _delete_range(BASE, ROWS)

        peer, tuned = peer_rates(small)
    finally:
        for f in (big, small):
            f.unlink(missing_ok=True)
        workdir.rmdir()

    ratio = ours / copy_seconds
    ours_rate = ROWS / ours
    report(f"import {ROWS:,}-row CSV (x psql \\copy, same run)", ratio, "x", "<= 4 x", ratio <= 4,
           f"{ours:.1f} s vs \\copy {copy_seconds:.1f} s; {ours_rate:,.0f} rows/s; history + checks")
    report("import peak RSS (child process)", rss_mb, "MB", "<= 512 MB", rss_mb <= 512)
    speedup = ours_rate / peer
    report("import vs import-export use_bulk, out of the box (x faster)", speedup, "x", ">= 25 x",
           speedup >= 25, f"{peer:,.0f} rows/s on {PEER_ROWS:,} rows, no history: 1M in "
                          f"{ROWS / peer / 60:.0f} min")
    # Not DESIGN's figure: the same peer given cached vendor/SKU/instance lookups, to show how
    # much of the gap is its per-row queries. Reported beside the target, not judged by it.
    speedup = ours_rate / tuned
    report("import vs import-export use_bulk, cached lookups (x faster)", speedup, "x",
           "none (DESIGN's is out of box)", None,
           f"{tuned:,.0f} rows/s on {PEER_ROWS:,} rows, no history; vs the design's quoted "
           f"1,300 rows/s: {ours_rate / 1300:.1f} x")
