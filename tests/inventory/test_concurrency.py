"""Concurrency on PostgreSQL with real parallel connections (DESIGN §4): threads, each with
its own database connection, start together on a barrier and race for the same numbers.
Row locks in primary-key order must give exactly one winner and a clear refusal for the
rest; skip_locked must keep parallel allocations and sweeps from ever taking a row twice."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from inventory.choices import NumberState, ReservationStatus
from inventory.models import PhoneNumber, Reservation
from inventory.services import (
    ServiceError,
    TransitionResult,
    number_assign,
    number_lock,
    number_next_available,
    number_reserve,
    numbers_expire_due,
)
from notifications.models import Notice
from subscriptions.models import Organization
from tests.inventory.svc_helpers import DAY, history

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]
S = NumberState
TIMEOUT = 60


def in_parallel(count: int, work: Callable[[int], object]) -> list:
    """Run work(0..count-1) in threads that connect first, then start together.

    Each thread has its own connection (Django connections are per thread) and closes it
    at the end. An exception in any thread fails the test with that exception.
    """
    barrier = threading.Barrier(count, timeout=TIMEOUT)
    results: list = [None] * count
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a worker hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


def orgs(count: int, partner) -> list[Organization]:
    return [Organization.objects.create(name=f"Customer {i}", kind="customer", parent=partner,
                                        billing_email=f"billing{i}@example.com")
            for i in range(count)]


def test_parallel_reserves_of_the_same_numbers_have_one_winner_each(make_numbers, partner, now):
    numbers = make_numbers(30)
    e164s = [n.e164 for n in numbers]
    workers = orgs(6, partner)

    def work(i: int) -> TransitionResult:
        # each worker takes the numbers in its own order and chunks, so the calls interleave
        order = e164s[:]
        random.Random(i).shuffle(order)
        total = TransitionResult()
        pos = 0
        while pos < len(order):
            size = random.Random(i * 100 + pos).randint(1, 5)
            total.merge(number_reserve(numbers=order[pos:pos + size], organization=workers[i],
                                       actor=None, remark=f"worker {i}", now=now))
            pos += size
        return total

    results = in_parallel(len(workers), work)

    for e164 in e164s:
        winners = [i for i, r in enumerate(results) if e164 in {n.e164 for n in r.done}]
        assert len(winners) == 1, (e164, winners)
        winner = workers[winners[0]]
        for i, r in enumerate(results):
            if i != winners[0]:
                assert r.rejected[e164] == f"already reserved by {winner.name}"
        n = PhoneNumber.objects.get(e164=e164)
        assert (n.state, n.organization) == (S.RESERVED, winner)
        (r,) = Reservation.objects.filter(number=n)
        assert (r.status, r.organization) == (ReservationStatus.ACTIVE, winner)
        assert len(history(n)) == 2
        assert history(n)[-1].history_change_reason == f"worker {winners[0]}"
    assert sum(len(r.done) for r in results) == len(e164s)


def test_different_actions_on_one_number_at_once_one_succeeds(make_numbers, partner,
                                                              make_subscription, now):
    customers = orgs(3, partner)
    service = make_subscription(customers[2])
    for round_ in range(5):
        number = make_numbers(1, start=f"+656000010{round_}")[0]
        kw = {"numbers": [number.e164], "actor": None, "remark": "race", "now": now}
        # after any one of these, every other is refused (delete is not here: it may follow a lock)
        calls = [
            lambda kw=kw: number_reserve(organization=customers[0], **kw),
            lambda kw=kw: number_reserve(organization=customers[1], **kw),
            lambda kw=kw: number_lock(**kw),
            lambda kw=kw: number_assign(subscription=service, **kw),
        ]
        results = in_parallel(len(calls), lambda i, calls=calls: calls[i]())
        done = [i for i, r in enumerate(results) if r.done]
        assert len(done) == 1, [r.summary() for r in results]
        state = PhoneNumber.objects.get(pk=number.pk).state
        for i, r in enumerate(results):
            if i not in done:
                assert r.rejected[number.e164], r
        assert len(history(number)) == 2
        assert Reservation.objects.filter(number=number, status="active").count() == (
            1 if state in (S.RESERVED, S.LOCKED) else 0)


def test_parallel_next_available_never_hands_out_a_number_twice(make_numbers, partner,
                                                                make_subscription, now):
    make_numbers(40, start="+6560000000")
    make_numbers(10, start="+6560000040", is_golden=True)
    make_numbers(60, start="+6560000050")
    customers = orgs(3, partner)
    subs = [make_subscription(c) for c in customers]
    # five workers, two of them filling the same subscription
    targets = [subs[0], subs[1], subs[2], subs[2], subs[0]]
    per_worker = 16

    def work(i: int) -> list[tuple[int, int]]:
        got = []
        for _ in range(per_worker):
            n = number_next_available(subscription=targets[i], actor=None, remark=f"w{i}", now=now)
            got.append((n.pk, targets[i].pk))
        return got

    results = in_parallel(len(targets), work)
    taken = [pk for got in results for pk, _ in got]
    assert len(taken) == len(targets) * per_worker
    assert len(set(taken)) == len(taken), "a number was handed out twice"
    for got in results:
        for pk, sub_pk in got:
            n = PhoneNumber.objects.get(pk=pk)
            assert (n.state, n.subscription_id, n.is_golden) == (S.ASSIGNED, sub_pk, False)
            assert len(history(n)) == 2
    assert PhoneNumber.objects.filter(state=S.ASSIGNED).count() == len(taken)
    assert not PhoneNumber.objects.filter(is_golden=True).exclude(state=S.AVAILABLE).exists()


def test_parallel_sweeps_expire_each_number_once(make_numbers, partner, now):
    reserved = make_numbers(240, start="+6560000000", visible_to=partner)
    locked = make_numbers(60, start="+6560001000", visible_to=partner)
    customer = orgs(1, partner)[0]
    number_reserve(numbers=reserved, organization=customer, actor=None, remark="r", now=now)
    number_lock(numbers=locked, actor=None, remark="l", now=now)
    later = now + 29 * DAY

    counts = in_parallel(4, lambda i: numbers_expire_due(now=later, batch_size=20))

    assert sum(counts) == 300
    assert set(PhoneNumber.objects.values_list("state", flat=True)) == {S.AVAILABLE}
    swept = Counter(
        PhoneNumber.history.filter(history_change_reason__in=["reservation expired", "lock expired"])
        .values_list("id", flat=True)
    )
    assert len(swept) == 300 and set(swept.values()) == {1}, "a number was expired twice"
    assert set(Reservation.objects.values_list("status", flat=True)) == {ReservationStatus.EXPIRED}
    assert Notice.objects.filter(kind="lock_expired").count() == 60


def test_parallel_assigns_never_exceed_the_allowance(make_numbers, partner, make_subscription, now):
    customer = orgs(1, partner)[0]
    sub = make_subscription(customer, allowance=7)
    numbers = make_numbers(15)
    chunks = [numbers[i::5] for i in range(5)]

    results = in_parallel(5, lambda i: number_assign(numbers=chunks[i], subscription=sub,
                                                     actor=None, remark=f"w{i}", now=now))

    assert sum(len(r.done) for r in results) == 7
    refusals = [reason for r in results for reason in r.rejected.values()]
    assert refusals == ["allowance of 7 numbers reached"] * 8
    assert PhoneNumber.objects.filter(subscription=sub, state=S.ASSIGNED).count() == 7


def test_parallel_next_available_stops_at_the_allowance(make_numbers, partner, make_subscription,
                                                        now):
    customer = orgs(1, partner)[0]
    sub = make_subscription(customer, allowance=6)
    make_numbers(30)

    def work(i: int) -> tuple[int, int]:
        ok = refused = 0
        for _ in range(4):
            try:
                number_next_available(subscription=sub, actor=None, remark="w", now=now)
                ok += 1
            except ServiceError as exc:
                assert "allowance of 6 numbers reached" in str(exc)
                refused += 1
        return ok, refused

    results = in_parallel(4, work)
    assert sum(ok for ok, _ in results) == 6
    assert sum(refused for _, refused in results) == 10
    assert PhoneNumber.objects.filter(subscription=sub).count() == 6


def test_parallel_adds_of_one_range_create_each_number_once(vendor, sku):
    """Large adds go through COPY; a racing duplicate is a clear refusal, never a traceback."""
    from inventory.services import number_add

    spec = "+6561000000-+6561000799"  # 800 numbers: above the COPY threshold

    def work(i: int):
        try:
            return number_add(numbers=spec, vendor=vendor, sku=sku, actor=None)
        except ServiceError as exc:
            return exc

    results = in_parallel(3, work)
    created = [r for r in results if isinstance(r, TransitionResult) and r.done]
    assert len(created) == 1 and len(created[0].done) == 800
    for other in results:
        if other is created[0]:
            continue
        if isinstance(other, ServiceError):
            assert "added by someone else" in " ".join(other.messages)
        else:
            assert not other.done and set(other.rejected.values()) == {"already exists"}
    assert PhoneNumber.objects.filter(e164__startswith="+6561000").count() == 800
    assert PhoneNumber.history.filter(e164__startswith="+6561000").count() == 800


def test_one_sweep_on_three_connections_expires_each_number_once(make_numbers, partner, now):
    reserved = make_numbers(90, start="+6560000000", visible_to=partner)
    locked = make_numbers(30, start="+6560001000", visible_to=partner)
    number_reserve(numbers=reserved, organization=orgs(1, partner)[0], actor=None, remark="r", now=now)
    number_lock(numbers=locked, actor=None, remark="l", now=now)
    from events.models import Event

    expired = numbers_expire_due(now=now + 29 * DAY, batch_size=7, workers=3)

    assert expired == 120
    assert set(PhoneNumber.objects.values_list("state", flat=True)) == {S.AVAILABLE}
    swept = Counter(PhoneNumber.history.filter(
        history_change_reason__in=["reservation expired", "lock expired"]).values_list("id", flat=True))
    assert len(swept) == 120 and set(swept.values()) == {1}
    assert Notice.objects.filter(kind="lock_expired").count() == 30
    told = Counter(item["e164"] for e in Event.objects.filter(type="number.expired")
                   for item in e.data["numbers"])
    assert len(told) == 120 and set(told.values()) == {1}, "a number was told twice or not at all"
    assert numbers_expire_due(now=now + 29 * DAY, workers=3) == 0


def test_batches_run_spreads_batches_over_connections_and_raises_the_first_error():
    from inventory.services.results import batches_run

    seen: list[tuple[int, int]] = []
    lock = threading.Lock()
    both_running = threading.Barrier(2, timeout=TIMEOUT)

    def work(batch: list[int]) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        if batch[0] < 2:
            both_running.wait()  # the first two batches are in flight at once, on two connections
        with lock:
            seen.extend((pid, b) for b in batch)
        return len(batch)

    assert batches_run(work, [[i] for i in range(6)], workers=2) == 6
    assert sorted(b for _, b in seen) == list(range(6)), "a batch ran twice or not at all"
    assert len({pid for pid, _ in seen}) == 2

    def failing(batch: list[int]) -> int:
        if batch[0] == 3:
            raise ServiceError("batch 3 failed")
        return 1

    with pytest.raises(ServiceError, match="batch 3 failed"):
        batches_run(failing, [[i] for i in range(6)], workers=2)


def test_batches_run_inside_a_transaction_stays_on_its_connection(make_numbers):
    from django.db import transaction

    from inventory.services.results import batches_run

    with transaction.atomic():
        numbers = make_numbers(3)  # not committed: another connection would not see them

        def work(batch: list[int]) -> int:
            return PhoneNumber.objects.filter(pk__in=batch).count()

        assert batches_run(work, [[n.pk] for n in numbers], workers=3) == 3
