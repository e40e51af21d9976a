"""Export of the 1,000,000 numbers to CSV (streamed), and its memory: flat, not growing with rows.

Each export runs as `manage.py export_numbers` in a child process; wait4 gives that child's
own peak RSS. "Flat" is checked by comparing the peak of the 1M-row export with the peak of
a 10,000-row export (same code, same columns).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.common import N_NUMBERS, report, run_child

MANAGE = Path(__file__).resolve().parents[1] / "manage.py"


def export_child(args: list[str], out: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, rows written) of one export_numbers run."""
    elapsed, rss, code, text = run_child(
        [sys.executable, str(MANAGE), "export_numbers", *args, "-o", str(out)])
    if code != 0:
        raise SystemExit(f"export_numbers failed: {text[-2000:]}")
    # The command's own line ("N rows written …"); libraries may log a line before it.
    line = next(ln for ln in text.splitlines() if ln[:1].isdigit())
    rows = int(line.split()[0].replace(",", ""))
    return elapsed, rss, rows


def run(data) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        small = workdir / "small.csv"
        small_s, small_rss, small_rows = export_child(["--number", "+656000*", "--format", "csv"], small)
        full = workdir / "all.csv"
        seconds, rss, rows = export_child(["--format", "csv"], full)
        size = full.stat().st_size / 2**20
        xlsx = workdir / "sample.xlsx"
        x_seconds, x_rss, x_rows = export_child(["--number", "+656000*", "--format", "xlsx"], xlsx)
    finally:
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()
    # DESIGN §8: 1,000,000 rows in <= 30 s; a larger data set gets the same rate (10M: 300 s).
    limit = 30 * max(N_NUMBERS, 1_000_000) / 1_000_000
    report(f"export {rows:,} rows to CSV (streamed)", seconds, "s", f"<= {limit:,.0f} s",
           seconds <= limit, f"{rows / seconds:,.0f} rows/s, {size:,.0f} MB")
    grown = rss - small_rss
    report(f"export peak RSS, {rows:,} rows (child process)", rss, "MB",
           "flat: <= 10k-row run + 64 MB",
           grown <= 64, f"{small_rows:,}-row run {small_rss:,.0f} MB")
    report(f"export {x_rows:,} rows to XLSX (write-only)", x_seconds, "s", "none",
           None, f"{x_rows / x_seconds:,.0f} rows/s, peak RSS {x_rss:,.0f} MB")
