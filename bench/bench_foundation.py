"""Foundation figures: add a 100k range, reserve 10k in one call, parallel next-available.

Every figure works on the bench's own numbers in RANGES["foundation"] (outside the data
set at every BENCH_NUMBERS), so it means the same at 1M and at 10M:

    +6594000000…   the 100,000-number add (rolled back)
    +6594100000…   10,000 numbers made for the bulk reserve (the reserves are rolled back)
    +6594200000…   the allocation pool, walked first (see `pool_make`)

Everything the bench writes (numbers, history, reservations, notices, events) is deleted
again at the end (`pool_drop`), also when a run failed half-way.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time

from django.db import connection, transaction

from bench.common import RANGES, report

RANGE_START = RANGES["foundation"]
ADD_START = RANGE_START
RESERVE_START = RANGE_START + 100_000
POOL_START = RANGE_START + 200_000
POOL_SIZE = 60_000
REMARK = "bench foundation"
ALLOCATE_COUNT = 10  # numbers per call, as the API bench's clients ask


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


def _spec(start: int, count: int) -> str:
    return f"+{start}-+{start + count - 1}"


def pool_make(data, start: int, count: int, *, remark: str, first: bool = False) -> None:
    """`count` available numbers from +start, added by number_add (history, events).

    `first`: give them negative ids, so that next-available (which walks the free numbers
    in id order) takes them before any of the data set's: the pool is walked the same way
    at 1M and at 10M, without a filter (a filter on a pattern or a column walks the data
    set's free numbers first: the planner cannot know they do not match)."""
    from inventory.services import number_add

    for piece in range(start, start + count, 100_000):
        size = min(100_000, start + count - piece)
        result = number_add(numbers=_spec(piece, size), vendor=data["vendor"], sku=data["sku"],
                            actor=None, remark=remark)
        assert len(result.done) == size, result.summary()
    if first:
        low, high = f"+{start}", f"+{start + count - 1}"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE inventory_historicalphonenumber SET id = -id "
                           "WHERE e164 BETWEEN %s AND %s AND id > 0", [low, high])
            cursor.execute("UPDATE inventory_phonenumber SET id = -id "
                           "WHERE e164 BETWEEN %s AND %s AND id > 0", [low, high])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_phonenumber")


def pool_drop(start: int, count: int, *, since: float, remarks: list[str]) -> None:
    """Delete the bench's numbers in [start, start + count) with their history, reservations
    and notices, and the events the bench's calls wrote since `since` (with `remarks`)."""
    import datetime as dt

    from events.models import Event

    low, high = f"+{start}", f"+{start + count - 1}"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM inventory_phonenumber WHERE e164 BETWEEN %s AND %s", [low, high])
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("DELETE FROM notifications_notice WHERE number_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM inventory_reservation WHERE number_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM inventory_historicalphonenumber WHERE e164 BETWEEN %s AND %s",
                       [low, high])
        cursor.execute("DELETE FROM inventory_phonenumber WHERE id = ANY(%s)", [ids])
        Event.objects.filter(remark__in=remarks,
                             occurred_at__gte=dt.datetime.fromtimestamp(since - 60, dt.UTC)).delete()


def bench_add_range(data) -> None:
    from inventory.services import number_add

    spec = _spec(ADD_START, 100_000)

    def add():
        result = number_add(numbers=spec, vendor=data["vendor"], sku=data["sku"], actor=None,
                            remark=REMARK)
        assert len(result.done) == 100_000, result.summary()

    times = [_rolled_back(add) for _ in range(3)]
    value = statistics.median(times)
    report("add a range of 100,000 numbers (median of 3)", value, "s", "<= 10 s", value <= 10,
           f"with history rows and number.added events; runs {', '.join(f'{t:.1f}' for t in times)} s")


def bench_bulk_reserve(data) -> None:
    from inventory.models import PhoneNumber
    from inventory.services import number_reserve

    pool_make(data, RESERVE_START, 10_000, remark=REMARK)
    ids = list(PhoneNumber.objects.filter(e164__gte=f"+{RESERVE_START}",
                                          e164__lte=f"+{RESERVE_START + 9_999}")
               .values_list("pk", flat=True))
    assert len(ids) == 10_000
    org = data["customers"][0]

    def reserve():
        result = number_reserve(numbers=PhoneNumber.objects.filter(pk__in=ids), organization=org,
                                actor=None, remark="bench reserve")
        assert len(result.done) == 10_000, result.summary()

    times = [_rolled_back(reserve) for _ in range(3)]
    value = statistics.median(times)
    report("bulk reserve of 10,000 numbers in one call (median of 3)", value, "s", "<= 5 s",
           value <= 5, "history + reservations + events")


def _allocate(args):
    sub_id, seconds, count, queue = args
    import django
    from django.db import connection as conn

    django.setup()
    from inventory.services import number_next_available
    from inventory.services.results import system_user
    from subscriptions.models import Subscription

    conn.close()
    sub = Subscription.objects.get(pk=sub_id)
    actor = system_user()  # the command line's actor, looked up once as a worker would
    got: list[int] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if count == 1:
            got.append(number_next_available(subscription=sub, actor=actor, remark="bench allocate").pk)
        else:
            got += [n.pk for n in number_next_available(subscription=sub, actor=actor, count=count,
                                                        remark="bench allocate")]
    conn.close()
    queue.put(got)


def _allocation_round(subs, seconds: float, count: int = ALLOCATE_COUNT
                      ) -> tuple[float, int, int, list[int]]:
    """4 processes allocate for `seconds`, `count` numbers per call; (rate, allocated,
    duplicates, ids)."""
    connection.close()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate, args=((s.pk, seconds, count, queue),)) for s in subs]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    allocated = [pk for chunk in results for pk in chunk]
    return len(allocated) / elapsed, len(allocated), len(allocated) - len(set(allocated)), allocated


def allocation_pool_check(allocated: list[int]) -> None:
    """Every allocated number came from the bench's own pool (none from the data set)."""
    from inventory.models import PhoneNumber

    outside = PhoneNumber.objects.filter(pk__in=allocated, pk__gt=0).count()
    assert outside == 0, f"{outside} allocated numbers came from outside the bench's pool"


def bench_parallel_allocation(data) -> None:
    subs = data["subscriptions"][:4]
    pool_make(data, POOL_START, POOL_SIZE, remark=REMARK, first=True)
    rounds = [_allocation_round(subs, 5.0) for _ in range(3)]
    single = _allocation_round(subs, 5.0, count=1)
    allocated = [pk for r in [*rounds, single] for pk in r[3]]
    duplicates = len(allocated) - len(set(allocated))
    allocation_pool_check(allocated)
    rate = statistics.median(r[0] for r in rounds)
    report(f"parallel allocation, 4 processes, count={ALLOCATE_COUNT} (median of 3 × 5 s)", rate,
           "numbers/s", ">= 300/s, 0 duplicates", rate >= 300 and duplicates == 0,
           f"rounds {', '.join(f'{r[0]:.0f}' for r in rounds)}/s; {len(allocated):,} numbers, "
           f"{duplicates} duplicates; the bench's own pool")
    report("parallel allocation, 4 processes, count=1 (5 s)", single[0], "numbers/s",
           "informational", None, "one call per number: the per-call cost")


def run(data) -> None:
    since = time.time()
    remarks = [REMARK, "bench reserve", "bench allocate"]
    pool_drop(RANGE_START, 1_000_000, since=60, remarks=remarks)  # a failed run's leftovers
    try:
        bench_add_range(data)
        bench_bulk_reserve(data)
        bench_parallel_allocation(data)
    finally:
        connection.close()  # the forked workers shared nothing, but start clean
        pool_drop(RANGE_START, 1_000_000, since=since, remarks=remarks)
