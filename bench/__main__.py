"""`make bench`: run every bench/bench_*.py on PostgreSQL with 1M numbers, one line per figure.

Usage: python -m bench [name ...]   (e.g. `python -m bench foundation admin`)
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

from bench import common


def main(argv: list[str]) -> int:
    common.setup_django()
    wanted = set(argv)
    modules = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    )
    print(f"machine: {common.machine()}")
    start = time.perf_counter()
    data = common.dataset()
    for name in modules:
        short = name.removeprefix("bench_")
        if wanted and short not in wanted:
            continue
        print(f"--- {short}", flush=True)
        importlib.import_module(f"bench.{name}").run(data)
        common.vacuum()  # autovacuum is off on the development server
    print(f"--- summary ({time.perf_counter() - start:.0f} s)")
    for line, _ in common.RESULTS:
        print(line)
    return 1 if any(ok is False for _, ok in common.RESULTS) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
