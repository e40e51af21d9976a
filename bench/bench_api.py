"""API figures: bulk reserve of 10,000 numbers in one request, 4 clients calling next-available,
list page and detail p95 — each a whole request (authentication, throttle check, parsing,
the service call, rendering) through Django's test Client, with an ops key.

The writes work on the bench's own numbers in RANGES["api"] (outside the data set at every
BENCH_NUMBERS, so the figures mean the same at 1M and at 10M): 10,000 numbers for the bulk
reserve (which runs in a transaction that is rolled back) and an allocation pool walked
before the data set's free numbers (bench_foundation.pool_make). Everything the bench wrote
is deleted again before the reads are measured. The rate limit is off: this measures work.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time

from django.db import connection, transaction

from bench.bench_foundation import pool_drop, pool_make
from bench.common import RANGES, report

RUNS = 30
WARMUP = 3
LIST_TARGET_MS = 100
RESERVE_START = RANGES["api"]
POOL_START = RANGES["api"] + 100_000
POOL_SIZE = 40_000
REMARK = "bench api"
REMARKS = [REMARK, "bench api reserve", "bench api baseline", "bench api allocate",
           "bench api warm-up", "bench allocate"]


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _client(secret: str):
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def bench_bulk_reserve(data, secret: str) -> None:
    from inventory.models import PhoneNumber
    from inventory.services import number_reserve

    pool_make(data, RESERVE_START, 10_000, remark=REMARK)
    numbers = list(PhoneNumber.objects.filter(e164__gte=f"+{RESERVE_START}",
                                              e164__lte=f"+{RESERVE_START + 9_999}")
                   .values_list("e164", flat=True))
    assert len(numbers) == 10_000
    body = {"numbers": numbers, "remark": "bench api reserve",
            "organization": str(data["customers"][0].uuid)}
    client = _client(secret)

    def once() -> float:
        with transaction.atomic():
            start = time.perf_counter()
            response = client.post("/api/v1/numbers/actions/reserve/", body, content_type="application/json",
                                   headers={"Idempotency-Key": f"bench-{time.time_ns()}"})
            elapsed = time.perf_counter() - start
            assert response.status_code == 200, response.content[:300]
            assert len(response.json()["done"]) == len(numbers)
            transaction.set_rollback(True)
        return elapsed

    def direct() -> float:  # the baseline: the same service call without HTTP
        with transaction.atomic():
            start = time.perf_counter()
            number_reserve(numbers=numbers, organization=data["customers"][0], actor=None,
                           remark="bench api baseline")
            elapsed = time.perf_counter() - start
            transaction.set_rollback(True)
        return elapsed

    times = [once() for _ in range(3)]
    value = statistics.median(times)
    baseline = statistics.median(direct() for _ in range(3))
    report(f"API bulk reserve of {len(numbers):,} numbers in one request (median of 3)", value, "s",
           "<= 5 s", value <= 5, f"{value / baseline:.2f} × the service called directly ({baseline:.2f} s); "
                                 "idempotency record, history + reservations")


def _allocate(args):
    secret, sub_uuid, seconds, count, queue = args
    import django

    django.setup()
    from django.db import connection as conn

    conn.close()
    client = _client(secret)
    got: list[str] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        response = client.post("/api/v1/numbers/next-available/",
                               {"subscription": sub_uuid, "count": count, "remark": "bench api allocate"},
                               content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        got.extend(n["e164"] for n in response.json()["numbers"])
    conn.close()
    queue.put(got)


def _allocation_round(subs, secret: str, count: int) -> tuple[float, list[str]]:
    connection.close()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate, args=((secret, str(s.uuid), 5.0, count, queue),))
             for s in subs]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    got = [e for chunk in results for e in chunk]
    return len(got) / (time.perf_counter() - t0), got


def bench_parallel_next_available(data, secret: str) -> None:
    """4 clients, each allocating for its own subscription (one subscription's allocations
    serialise on its row lock, by design: its allowance is decided under it)."""
    from bench.bench_foundation import _allocation_round as direct_round
    from bench.bench_foundation import allocation_pool_check
    from inventory.models import PhoneNumber

    subs = data["subscriptions"][:4]
    pool_make(data, POOL_START, POOL_SIZE, remark=REMARK, first=True)
    # Warm the request path once before forking, as a long-running client would be.
    warm = _client(secret).post("/api/v1/numbers/next-available/", {
        "subscription": str(subs[0].uuid), "count": 1, "remark": "bench api warm-up"},
        content_type="application/json").json()["numbers"]
    rounds = [_allocation_round(subs, secret, 10) for _ in range(3)]
    single_rate, single = _allocation_round(subs, secret, 1)
    baseline, _, _, direct_ids = direct_round(subs, 5.0)
    allocated = [e for _, got in rounds for e in got] + single + [n["e164"] for n in warm]
    duplicates = len(allocated) - len(set(allocated))
    allocation_pool_check(direct_ids + list(PhoneNumber.objects.filter(e164__in=allocated)
                                            .values_list("pk", flat=True)))
    rate = statistics.median(r for r, _ in rounds)
    report("API next-available, 4 parallel clients, count=10 (median of 3 × 5 s)", rate, "numbers/s",
           ">= 300/s, 0 duplicates", rate >= 300 and duplicates == 0,
           f"rounds {', '.join(f'{r:.0f}' for r, _ in rounds)}/s; {len(allocated):,} numbers, "
           f"{duplicates} duplicates; {rate / baseline:.2f} × the service called directly, "
           f"{baseline:.0f}/s")
    report("API next-available, 4 parallel clients, count=1 (5 s)", single_rate, "numbers/s",
           "informational", None, "one request per number: the per-request cost")


def _measure(client, url: str, params: dict | None = None) -> tuple[float, float]:
    for _ in range(WARMUP):
        client.get(url, params or {})
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        response = client.get(url, params or {})
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.content[:200])
    return p95(times), statistics.median(times)


def bench_reads(data, secret: str) -> None:
    from inventory.models import PhoneNumber

    client = _client(secret)
    deep = client.get("/api/v1/numbers/", {"limit": 100})
    for _ in range(5):  # a cursor a few pages in
        deep = client.get(deep.json()["next"])
    middle = PhoneNumber.objects.order_by("pk").values_list("e164", flat=True)[
        PhoneNumber.objects.count() // 2]
    cases = [
        ("API list, first page of 100", "/api/v1/numbers/", {"limit": 100}),
        ("API list, page 6 by cursor", deep.request["PATH_INFO"], dict(
            p.split("=", 1) for p in deep.request["QUERY_STRING"].split("&"))),
        ("API list, state=reserved", "/api/v1/numbers/", {"state": "reserved", "limit": 100}),
        ("API list, prefix +6560512", "/api/v1/numbers/", {"number": "+6560512", "limit": 100}),
        ("API list, owner uuid", "/api/v1/numbers/", {"owner": str(data["customers"][1].uuid)}),
        ("API number detail", f"/api/v1/numbers/{middle.replace('+', '%2B')}/", None),
    ]
    for name, url, params in cases:
        value, median = _measure(client, url, params)
        report(f"{name} (p95)", value, "ms", f"<= {LIST_TARGET_MS} ms", value <= LIST_TARGET_MS,
               f"median {median:.0f} ms, {RUNS} runs")


def run(data) -> None:
    from django.test import override_settings

    from api.keys import api_key_create
    from api.models import ApiKey

    ApiKey.objects.filter(name="bench-api").delete()
    key, secret = api_key_create(name="bench-api", group="Ops")
    since = time.time()
    pool_drop(RESERVE_START, 1_000_000, since=60, remarks=REMARKS)  # a failed run's leftovers
    try:
        with override_settings(ALLOWED_HOSTS=["*"], SECURE_SSL_REDIRECT=False, API_RATE_LIMIT="0"):
            try:
                bench_bulk_reserve(data, secret)
                bench_parallel_next_available(data, secret)
            finally:
                connection.close()
                pool_drop(RESERVE_START, 1_000_000, since=since, remarks=REMARKS)
            bench_reads(data, secret)
    finally:
        user = key.user
        ApiKey.objects.filter(user=user).delete()
        user.delete()
