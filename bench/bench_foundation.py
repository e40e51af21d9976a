"""Foundation figures: add a 100k range, reserve 10k in one call, parallel next-available."""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time

from django.db import connection, transaction

from bench.common import report

RANGE_START = 6564000000


def _rolled_back(fn):
    """Run fn in a transaction that is rolled back, so the data set stays as it was."""
    with transaction.atomic():
        start = time.perf_counter()
        fn()
        with connection.cursor() as cursor:  # make PostgreSQL check deferred work before timing ends
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        elapsed = time.perf_counter() - start
        transaction.set_rollback(True)
    return elapsed


def bench_add_range(data) -> None:
    from inventory.services import number_add

    spec = f"+{RANGE_START}-+{RANGE_START + 99_999}"

    def add():
        result = number_add(numbers=spec, vendor=data["vendor"], sku=data["sku"], actor=None,
                            remark="bench")
        assert len(result.done) == 100_000, result.summary()

    times = [_rolled_back(add) for _ in range(3)]
    value = statistics.median(times)
    report("add a range of 100,000 numbers (median of 3)", value, "s", "<= 10 s", value <= 10,
           "with history rows")


def bench_bulk_reserve(data) -> None:
    from inventory.models import PhoneNumber
    from inventory.services import number_reserve

    ids = list(PhoneNumber.objects.filter(state="available", e164__gte="+6560500000")
               .order_by("pk").values_list("pk", flat=True)[:10_000])
    org = data["customers"][0]

    def reserve():
        result = number_reserve(numbers=PhoneNumber.objects.filter(pk__in=ids), organization=org,
                                actor=None, remark="bench reserve")
        assert len(result.done) == 10_000, result.summary()

    times = [_rolled_back(reserve) for _ in range(3)]
    value = statistics.median(times)
    report("bulk reserve of 10,000 numbers in one call (median of 3)", value, "s", "<= 5 s",
           value <= 5, "history + reservations")


def _allocate(args):
    sub_id, seconds, queue = args
    import django
    from django.db import connection as conn

    django.setup()
    from inventory.services import number_next_available
    from subscriptions.models import Subscription

    conn.close()
    sub = Subscription.objects.get(pk=sub_id)
    got: list[int] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        got.append(number_next_available(subscription=sub, actor=None, remark="bench allocate").pk)
    conn.close()
    queue.put(got)


def _allocation_round(subs, seconds: float) -> tuple[float, int, int, list[int]]:
    """4 processes allocate for `seconds`; (rate, allocated, duplicates, ids)."""
    connection.close()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate, args=((s.pk, seconds, queue),)) for s in subs]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    allocated = [pk for chunk in results for pk in chunk]
    return len(allocated) / elapsed, len(allocated), len(allocated) - len(set(allocated)), allocated


def bench_parallel_allocation(data) -> None:
    subs = data["subscriptions"][:4]
    start_marker = time.time()
    rounds = [_allocation_round(subs, 5.0) for _ in range(3)]
    allocated = [pk for r in rounds for pk in r[3]]
    duplicates = len(allocated) - len(set(allocated))
    rate = statistics.median(r[0] for r in rounds)
    report("parallel allocation, 4 processes (median of 3 × 5 s)", rate, "numbers/s",
           ">= 300/s, 0 duplicates", rate >= 300 and duplicates == 0,
           f"rounds {', '.join(f'{r[0]:.0f}' for r in rounds)}/s; {len(allocated):,} numbers, "
           f"{duplicates} duplicates")
    # Put the data set back: the allocated numbers become available again, their rows removed.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_phonenumber SET state='available', subscription_id=NULL, "
            "organization_id=NULL, expires_at=NULL WHERE id = ANY(%s)", [allocated])
        cursor.execute(
            "DELETE FROM inventory_historicalphonenumber WHERE id = ANY(%s) AND history_date >= "
            "to_timestamp(%s)", [allocated, start_marker])


def run(data) -> None:
    bench_add_range(data)
    bench_bulk_reserve(data)
    bench_parallel_allocation(data)
