"""Exactly once under concurrent runs: real threads on real PostgreSQL, started together."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.core import mail
from django.db import connection

from inventory.models import PhoneNumber, Reservation
from inventory.services import number_lock, number_reserve, numbers_expire_due
from notifications.models import Notice
from notifications.services import notices_queue_due, notices_send_pending

DAY = dt.timedelta(days=1)
RUNS = 4
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def together(fn, runs: int = RUNS) -> list:
    """Run fn in `runs` threads released at once by a barrier; return their results."""
    barrier = threading.Barrier(runs)
    results: list = [None] * runs
    errors: list = []

    def work(i):
        try:
            barrier.wait(timeout=30)
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


@pytest.fixture
def due_world(make_numbers, customer, partner, other_customer, ops_user, now):
    """300 reservations (two reservers) and 100 locks, all ending at now + 28 days."""
    reserved = make_numbers(200)
    other = make_numbers(100, start="+6560001000")
    locked = make_numbers(100, start="+6560002000", visible_to=partner)
    number_reserve(numbers=reserved, organization=customer, actor=ops_user, remark="a", now=now)
    number_reserve(numbers=other, organization=other_customer, actor=ops_user, remark="b", now=now)
    number_lock(numbers=locked, actor=ops_user, remark="c", now=now)
    return now


def test_concurrent_queue_and_send_write_and_mail_each_notice_once(due_world):
    at = due_world + 22 * DAY
    written = together(lambda: notices_queue_due(now=at))
    assert sum(written) >= 400
    assert Notice.objects.count() == 400
    assert Notice.objects.values("reservation", "kind", "ends_at").distinct().count() == 400

    sent = together(lambda: notices_send_pending(now=at))
    assert sum(sent) == 400
    assert set(Notice.objects.values_list("status", flat=True)) == {"sent"}
    mailed = Counter()
    for message in mail.outbox:
        for notice_id in message.extra_headers["X-Notice-Ids"].split(","):
            mailed[int(notice_id)] += 1
    assert set(mailed.values()) == {1}
    assert len(mailed) == 400
    # One email per recipient set and day: billing beta, billing gamma, the lock supports.
    assert len(mail.outbox) == 3

    assert together(lambda: notices_queue_due(now=at)) == [0] * RUNS
    assert together(lambda: notices_send_pending(now=at + DAY)) == [0] * RUNS
    assert len(mail.outbox) == 3


def test_concurrent_expiry_sweeps_process_each_number_once(due_world):
    at = due_world + 28 * DAY
    counts = together(lambda: numbers_expire_due(now=at, batch_size=50))
    assert sum(counts) == 400
    assert PhoneNumber.objects.filter(state="available").count() == 400
    history = PhoneNumber.history.filter(history_change_reason__in=["reservation expired", "lock expired"])
    assert history.count() == 400
    assert set(history.values_list("history_user__username", flat=True)) == {"system"}
    assert Reservation.objects.filter(status="expired").count() == 400
    assert Notice.objects.filter(kind="lock_expired").count() == 100

    assert together(lambda: numbers_expire_due(now=at)) == [0] * RUNS
    assert history.count() == 400


def test_a_sweep_that_dies_mid_way_keeps_its_committed_batches_and_a_rerun_resumes(due_world):
    """A crash between batches: what was committed stays, the rerun does only the rest."""
    at = due_world + 28 * DAY
    from django.db import transaction

    with pytest.raises(RuntimeError):
        original = transaction.Atomic.__exit__

        def exit_and_maybe_crash(self, exc_type, exc, tb):
            """The worker dies right after the commit of the batch that made 300 available."""
            result = original(self, exc_type, exc, tb)
            if (exc_type is None and not connection.in_atomic_block
                    and PhoneNumber.objects.filter(state="available").count() >= 300):
                raise RuntimeError("worker killed")
            return result

        transaction.Atomic.__exit__ = exit_and_maybe_crash
        try:
            numbers_expire_due(now=at, batch_size=100, workers=1)  # one batch at a time
        finally:
            transaction.Atomic.__exit__ = original
    assert PhoneNumber.objects.filter(state="available").count() == 300
    assert numbers_expire_due(now=at, batch_size=100) == 100
    assert PhoneNumber.objects.filter(state="available").count() == 400
    assert PhoneNumber.history.filter(history_change_reason__in=["reservation expired",
                                                                 "lock expired"]).count() == 400
