"""Import of a 1,000,000-row CSV, side by side with `psql \\copy` of the same file and with
django-import-export's ModelResource (use_bulk=True).

- baseline: `psql \\copy` of the file into a plain table made `LIKE inventory_phonenumber
  INCLUDING ALL` (the same indexes and checks; vendor and SKU kept as text);
- ours: `manage.py import_numbers FILE` in a child process: checks every row, diffs
  against the table, writes the numbers and one history row each; peak RSS from wait4;
- peer: PhoneNumberResource with use_bulk=True on a sample, extrapolated in rows/s.

The numbers (+6569…, +6568… for the peer) are not in the data set; everything created is
deleted again, with its history.
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

from bench.common import report

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
PEER_ROWS = int(os.environ.get("BENCH_IMPORT_PEER_ROWS", "20000"))
BASE = 6569000000
PEER_BASE = 6568000000
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


def _delete_range(prefix: str) -> None:
    like = prefix + "%"
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM inventory_historicalphonenumber WHERE id IN "
            "(SELECT id FROM inventory_phonenumber WHERE e164 LIKE %s)", [like])
        cursor.execute("DELETE FROM inventory_reservation WHERE number_id IN "
                       "(SELECT id FROM inventory_phonenumber WHERE e164 LIKE %s)", [like])
        cursor.execute("DELETE FROM inventory_phonenumber WHERE e164 LIKE %s", [like])


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
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, str(manage), "import_numbers", str(path)],
                                 stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace").strip()
    if child.returncode != 0:
        raise SystemExit(f"import_numbers failed ({child.returncode}): {text[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, text


def peer_rate(path: Path) -> float:
    """django-import-export ModelResource with use_bulk=True (no history): rows per second."""
    import tablib

    from inventory.resources import PhoneNumberResource

    class BulkResource(PhoneNumberResource):
        class Meta(PhoneNumberResource.Meta):
            use_bulk = True
            batch_size = 1000

    dataset = tablib.Dataset().load(path.read_text(encoding="utf-8"), format="csv")
    start = time.perf_counter()
    result = BulkResource().import_data(dataset, dry_run=False, raise_errors=True)
    elapsed = time.perf_counter() - start
    assert not result.has_errors() and not result.has_validation_errors()
    return len(dataset) / elapsed


def run(data) -> None:
    from inventory.models import PhoneNumber

    vendor, sku = data["vendor"].name, data["sku"].code
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    big, small = workdir / "import-1m.csv", workdir / "import-peer.csv"
    try:
        _delete_range(f"+{str(BASE)[:4]}")  # leftovers of an interrupted run
        _delete_range(f"+{str(PEER_BASE)[:4]}")
        write_file(big, ROWS, BASE, vendor, sku)
        write_file(small, PEER_ROWS, PEER_BASE, vendor, sku)
        print(f"  file: {ROWS:,} rows, {big.stat().st_size / 2**20:.0f} MB", flush=True)

        copy_seconds = copy_baseline(big)
        ours, rss_mb, output = import_child(big)
        print(f"  import_numbers: {output.splitlines()[-1] if output else ''}", flush=True)
        created = PhoneNumber.objects.filter(e164__startswith=f"+{str(BASE)[:4]}").count()
        history = PhoneNumber.history.filter(
            id__in=PhoneNumber.objects.filter(e164__startswith=f"+{str(BASE)[:4]}").values("id")
        ).count()
        assert created == ROWS and history == ROWS, (created, history)
        _delete_range(f"+{str(BASE)[:4]}")

        peer = peer_rate(small)
        _delete_range(f"+{str(PEER_BASE)[:4]}")
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
    report("import vs django-import-export use_bulk (x faster)", speedup, "x", ">= 25 x",
           speedup >= 25, f"peer {peer:,.0f} rows/s on {PEER_ROWS:,} rows, no history; "
                          f"1M would take {ROWS / peer / 60:.0f} min")
