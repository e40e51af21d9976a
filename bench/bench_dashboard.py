"""Partner dashboard: p95 server time of each page for the bench partner (100k of 1M numbers).

Requests go through Django's test client in this process (URL routing, middleware, session,
queries, template rendering: the server's whole share of a page). Everything this bench
writes (the partner user, a few numbers with history) happens inside one transaction that is
rolled back at the end, so the 1M data set stays as it was.
"""

from __future__ import annotations

import statistics
import time
from typing import cast

from django.db import connection, transaction
from django.http import StreamingHttpResponse
from django.test import Client, override_settings

from bench.common import N_NUMBERS, PARTNER_SHARE, RANGES, report

RUNS = 30
WARMUP = 3
TARGET_MS = 300
# numbers with history, for the number page: the bench's own range, outside the data set
OWN_RANGE = f"+{RANGES['dashboard']}-+{RANGES['dashboard'] + 19}"


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


SHARE, SIZE = _short(PARTNER_SHARE), _short(N_NUMBERS)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def timed(client: Client, url: str, runs: int = RUNS) -> tuple[float, float]:
    for _ in range(WARMUP):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, url
    return p95(samples), statistics.median(samples)


def _numbers_with_history(data) -> str:
    """A few numbers in our own range that went through reserve/release/reserve (history rows)."""
    from inventory.models import PhoneNumber
    from inventory.services import number_add, number_release, number_reserve

    customer = data["customers"][0]
    added = number_add(numbers=OWN_RANGE, vendor=data["vendor"], sku=data["sku"], actor=None,
                       remark="bench dashboard", visible_to=data["partner"]).done
    number_reserve(numbers=added, organization=customer, actor=None, remark="bench",
                   reserved_for="bench-user")
    number_release(numbers=added[:10], actor=None, remark="bench")
    number_reserve(numbers=added[:10], organization=data["customers"][1], actor=None, remark="b")
    return PhoneNumber.objects.get(pk=added[0].pk).e164


# Production serves hashed static names from collectstatic's manifest; the bench has not run
# collectstatic, and a static URL costs nothing measurable, so plain names are used here.
PLAIN_STATIC = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def _vacuum() -> None:
    """Autovacuum is off on the bench server, so the other benches' rolled-back writes leave
    millions of dead tuples that every bitmap scan re-reads (measured 2.5M dead for 1M live).
    Production runs autovacuum; VACUUM changes no data, it only lets the figure be the
    steady-state one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s",
                       ["inventory_phonenumber"])
        dead = (cursor.fetchone() or [0])[0]
        start = time.perf_counter()
        cursor.execute("VACUUM (ANALYZE) inventory_phonenumber")
        cursor.execute("VACUUM (ANALYZE) inventory_reservation")
        cursor.execute("SELECT pg_size_pretty(pg_relation_size('inventory_phonenumber'))")
        size = cursor.fetchone()[0]
    # A bloated table (other benches' churn) makes PostgreSQL prefer a seq scan of the whole
    # file for a 100k-row scope: the size is printed so that a slow figure can be read right.
    print(f"  vacuumed {dead:,} dead number rows in {time.perf_counter() - start:.1f} s; "
          f"number table now {size} on disk", flush=True)


def run(data) -> None:
    from django.contrib.auth import get_user_model

    from subscriptions.models import PartnerMembership

    _vacuum()
    with override_settings(STORAGES=PLAIN_STATIC), transaction.atomic():
        user = get_user_model().objects.create_user("bench-dashboard-partner", password=None)
        PartnerMembership.objects.create(user=user, organization=data["partner"])
        with_history = _numbers_with_history(data)
        client = Client()
        client.force_login(user)
        customer = data["customers"][3]
        table = "/partner/numbers/"
        filtered = {
            "state=reserved": f"{table}?state=reserved",
            "customer": f"{table}?customer={customer.uuid}",
            "state+customer+sort=-expires": f"{table}?state=reserved&customer={customer.uuid}"
                                           "&sort=-expires",
            "pattern prefix +6560042*": f"{table}?number=%2B6560042*",
            "pattern suffix *1234": f"{table}?number=*1234",
            "pattern contains 0042": f"{table}?number=0042",
            "tags=batch-3": f"{table}?tags=batch-3",
            "golden+ported": f"{table}?golden=true&ported_in=true",
            "sort=-number": f"{table}?sort=-number",
            "sort=customer": f"{table}?sort=customer",
            "expires range": f"{table}?expires_after=2026-12-05&expires_before=2026-12-09",
            "page 100": f"{table}?page=100",
        }
        figures: dict[str, tuple[float, float]] = {}
        figures["summary"] = timed(client, "/partner/")
        figures["table first page"] = timed(client, table)
        for name, url in filtered.items():
            figures[f"table {name}"] = timed(client, url)
        figures["number page (no history)"] = timed(client, "/partner/numbers/%2B6560000001/")
        figures["number page (with history)"] = timed(
            client, f"/partner/numbers/%2B{with_history[1:]}/")
        for name, (p, median) in figures.items():
            print(f"  {name:<40} p95 {p:7.1f} ms   median {median:7.1f} ms", flush=True)

        worst_filter = max((k for k in figures if k.startswith("table ") and k != "table first page"),
                           key=lambda k: figures[k][0])
        number_worst = max(figures["number page (no history)"][0],
                           figures["number page (with history)"][0])
        rows = [
            ("partner dashboard /partner/ (summary) p95", figures["summary"][0], ""),
            ("partner dashboard table, first page p95", figures["table first page"][0], ""),
            ("partner dashboard table, filters/patterns/sorts p95 (worst)",
             figures[worst_filter][0], f"worst: {worst_filter.removeprefix('table ')}; "
                                       f"{len(filtered)} variants"),
            ("partner dashboard number page p95", number_worst, "with and without history"),
        ]
        for name, value, extra in rows:
            report(name, value, "ms", f"<= {TARGET_MS} ms", value <= TARGET_MS,
                   f"partner {SHARE} of {SIZE}{'; ' + extra if extra else ''}")

        start = time.perf_counter()
        response = client.get("/partner/numbers/export/?format=csv")
        # django-stubs type every test-client response as an HttpResponse; this view streams
        streamed = cast(StreamingHttpResponse, response)
        lines = sum(chunk.count(b"\n") for chunk in streamed) - 1
        seconds = time.perf_counter() - start
        limit = 30 * PARTNER_SHARE / 1_000_000  # DESIGN §8's export rate: 30 s per 1M rows
        report(f"partner export, all {SHARE} numbers to CSV", seconds, "s",
               f"<= {limit:,.0f} s (30 s per 1M)", seconds <= limit, f"{lines:,} rows streamed")
        transaction.set_rollback(True)
    connection.close()
