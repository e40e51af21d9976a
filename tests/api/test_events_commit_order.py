"""GET /api/v1/events/ with real parallel transactions on PostgreSQL (issue #11): event ids come
from a sequence when an event is written, not when it commits, so a transaction can hold a
lower id than one that has already committed. A consumer that follows the feed (its `next`
links, then polls again after the last event it got) must still see every event exactly once.

Each writer is a thread with its own connection that calls a real service inside its own
transaction and waits on a threading.Event before committing; the reader is the test client
with an ops key, in autocommit (as a consumer's requests are)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from events.models import Event
from inventory.models import PhoneNumber
from inventory.services import number_lock, number_reserve
from tests.notifications.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
TIMEOUT = 60
A, B, C = "+6560000000", "+6560000001", "+6560000002"


class Consumer:
    """Reads the feed as the README says: from the start, following `next` to its end, then
    later again with `after` = the id of the last event it got. Remembers every event seen."""

    def __init__(self, api, limit: int = 2):
        self.api, self.limit = api, limit
        self.after: int | None = None
        self.seen: list[int] = []

    def catch_up(self) -> list[int]:
        got: list[int] = []
        params = {"limit": self.limit} | ({"after": self.after} if self.after else {})
        page = self.api.get("/events/", params)
        while True:
            assert page.status_code == 200, page.content
            body = page.json()
            ids = [e["id"] for e in body["results"]]
            got += ids
            if ids:
                self.after = ids[-1]
            if not body["next"]:
                break
            page = self.api.client.get(body["next"])
        self.seen += got
        return got


class Writer:
    """A transaction in its own thread: runs `steps` one at a time, each when told, and commits
    when told to after the last; `done[i]` is set once step i has run, `events[i]` is the id
    of the event it wrote (seen from inside the transaction)."""

    def __init__(self, steps: list[Callable[[], int]]):
        self.steps = steps
        self.events: list[int] = []
        self.go = [threading.Event() for _ in range(len(steps) + 1)]  # the last one: commit
        self.done = [threading.Event() for _ in range(len(steps))]
        self.committed = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with transaction.atomic():
                for i, step in enumerate(self.steps):
                    assert self.go[i].wait(TIMEOUT), f"step {i} never told to run"
                    self.events.append(step())
                    self.done[i].set()
                assert self.go[-1].wait(TIMEOUT), "never told to commit"
            self.committed.set()
        except BaseException as exc:  # noqa: BLE001 - reported to the test by finish()
            self.errors.append(exc)
        finally:
            connection.close()

    def run_step(self, i: int) -> int:
        self.go[i].set()
        assert self.done[i].wait(TIMEOUT) or self.errors, f"step {i} did not finish"
        self._raise()
        return self.events[i]

    def commit(self) -> None:
        self.go[-1].set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive(), "the writer hung"
        self._raise()
        assert self.committed.is_set()

    def _raise(self) -> None:
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def numbers(make_numbers):
    make_numbers(3)
    return {n.e164: n for n in PhoneNumber.objects.filter(e164__in=[A, B, C])}


def written(event_type: str, e164: str) -> int:
    """The id of the event the service just wrote about `e164` (inside its transaction)."""
    return Event.objects.filter(type=event_type, data__numbers__0__e164=e164).latest("pk").pk


def reserve(e164: str, organization, actor) -> Callable[[], int]:
    def step() -> int:
        number_reserve(numbers=[PhoneNumber.objects.get(e164=e164)], organization=organization,
                       actor=actor, remark=f"order for {e164}")
        return written("number.reserved", e164)
    return step


def lock(e164: str, actor) -> Callable[[], int]:
    def step() -> int:
        number_lock(numbers=[PhoneNumber.objects.get(e164=e164)], actor=actor,
                    remark=f"porting check {e164}")
        return written("number.locked", e164)
    return step


def caught_up(consumer: Consumer, wanted: set[int]) -> bool:
    consumer.catch_up()
    return wanted <= set(consumer.seen)


def test_a_lower_id_committed_later_is_not_skipped_by_a_consumer_that_follows_the_feed(
        ops, numbers, customer, other_customer, ops_user):
    consumer = Consumer(ops)
    added = consumer.catch_up()  # read to the end of the feed
    assert len(added) == 1  # the three numbers were added in one service call: one event

    slow = Writer([reserve(A, customer, ops_user)])
    try:
        first = slow.run_step(0)  # T1: its event has taken the lower id; T1 has not committed
        fast = Writer([reserve(B, other_customer, ops_user)])
        second = fast.run_step(0)
        fast.commit()  # T2: the higher id, committed first
        assert first < second

        # While T1 runs, the feed does not run ahead of it: T2's event waits behind T1's.
        consumer.catch_up()
        assert second not in consumer.seen
    finally:
        slow.commit()

    wait_for(lambda: caught_up(consumer, {first, second}), timeout=TIMEOUT,
             what="both events in the feed (another transaction on the server may hold it back)")
    counts = Counter(consumer.seen)
    assert counts[first] == 1 and counts[second] == 1
    assert set(counts.values()) == {1}
    assert consumer.seen.index(first) < consumer.seen.index(second)  # T1 began writing first


def test_a_transaction_that_writes_again_after_a_later_one_committed_loses_no_event(
        ops, numbers, customer, other_customer, ops_user):
    """T1 locks C, T2 reserves B and commits, then T1 reserves A (an id above B's) and commits:
    the feed gives C, A, B — ids not increasing — and a consumer that resumes after the last
    event of each page (not after the largest id it saw) gets all three once."""
    consumer = Consumer(ops, limit=1)
    consumer.catch_up()

    t1 = Writer([lock(C, ops_user), reserve(A, customer, ops_user)])
    try:
        locked = t1.run_step(0)
        t2 = Writer([reserve(B, other_customer, ops_user)])
        reserved_b = t2.run_step(0)
        t2.commit()
        consumer.catch_up()
        reserved_a = t1.run_step(1)
    finally:
        t1.commit()
    assert locked < reserved_b < reserved_a

    wait_for(lambda: caught_up(consumer, {locked, reserved_a, reserved_b}), timeout=TIMEOUT,
             what="the three events in the feed")
    mine = [i for i in consumer.seen if i in {locked, reserved_a, reserved_b}]
    assert mine == [locked, reserved_a, reserved_b]  # T1's two, then T2's; each once
    assert set(Counter(consumer.seen).values()) == {1}
