"""The one lock order (inventory/services/locks.py): subscription(s) → numbers → reservations
→ notices. An import that assigns into a subscription runs alongside number_assign on the
same subscription and numbers without a deadlock; every service takes its locks in that
order (seen in the SQL it sends); and a number added by someone else while an import runs
fails that import cleanly."""

from __future__ import annotations

import re
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from inventory import services as svc
from inventory.choices import DeleteReason, NumberState, PolicyCause
from inventory.imports import import_file
from inventory.models import LifecyclePolicy, PhoneNumber
from subscriptions.services import subscription_renew, subscription_set_status
from tests.inventory.svc_helpers import DAY
from tests.inventory.test_concurrency import TIMEOUT, in_parallel

pytestmark = [pytest.mark.postgres]
S = NumberState
HEAD = "number,country,vendor,sku,state,subscription"


def import_csv(tmp_path, name: str, e164s: list[str], sub) -> str:
    path = tmp_path / name
    rows = [f"{e164},SG,Singtel Wholesale,SG-DID-STD,assigned,{sub.uuid}" for e164 in e164s]
    path.write_text("\n".join([HEAD, *rows]) + "\n")
    return str(path)


@pytest.mark.django_db(transaction=True)
def test_imports_and_assigns_into_one_subscription_never_deadlock(tmp_path, make_numbers, service,
                                                                  sample_catalog, ops_user, now):
    """The import locks its subscriptions before its numbers, as number_assign does; before,
    the two answered `deadlock detected` when they interleaved."""
    for round_ in range(12):
        numbers = make_numbers(6, start=f"+6561{round_:02d}0000")
        e164s = [n.e164 for n in numbers]
        files = [import_csv(tmp_path, f"r{round_}-{i}.csv", e164s[::-1] if i else e164s, service)
                 for i in range(2)]

        def work(i: int, files=files, e164s=e164s, round_=round_):
            if i < 2:
                summary = import_file(files[i], actor=ops_user)
                assert summary.imported and not summary.errors, summary.message()
                return summary
            return svc.number_assign(numbers=e164s[::-1] if i == 3 else e164s, subscription=service,
                                 actor=ops_user, remark=f"round {round_}", now=now)

        in_parallel(4, work)
        assert set(PhoneNumber.objects.filter(e164__in=e164s)
                   .values_list("state", "subscription_id")) == {(S.ASSIGNED, service.pk)}


# --- the order of the locks, as sent to PostgreSQL ----------------------------------------

RANK = {
    "subscriptions_subscription": 0,
    "inventory_phonenumber": 1,
    "inventory_historicalphonenumber": 1,
    "inventory_reservation": 2,
    "notifications_notice": 3,
}
WRITE = re.compile(r'\b(?:UPDATE|INSERT INTO|DELETE FROM)\s+"(\w+)"')
LOCKED_FROM = re.compile(r'\bFROM\s+"(\w+)"')


def lock_ranks(queries: list[dict]) -> list[int]:
    """The lock levels in the order the call first took each: a row lock (FOR UPDATE) on
    the statement's table, or a write (which locks the rows it writes)."""
    seen: list[int] = []
    for query in queries:
        sql = query["sql"]
        tables = WRITE.findall(sql)
        if "FOR UPDATE" in sql and (first := LOCKED_FROM.search(sql)):
            tables.insert(0, first.group(1))
        for table in tables:
            rank = RANK.get(table)
            if rank is not None and rank not in seen:
                seen.append(rank)
    return seen


@pytest.fixture
def world(make_numbers, service, customer, make_subscription, sample_catalog, now, tmp_path):
    numbers = make_numbers(12, start="+6562000000")
    did = make_subscription(customer, kind="did_reservation", period_end=now + 40 * DAY)
    ended = make_subscription(customer)
    LifecyclePolicy.objects.filter(cause=PolicyCause.MANUAL).update(period_days=3)  # notices now
    svc.number_reserve(numbers=numbers[:3], organization=customer, actor=None, remark="r", now=now)
    svc.number_lock(numbers=numbers[3:5], actor=None, remark="l", now=now)
    svc.number_assign(numbers=numbers[5:7], subscription=service, actor=None, remark="a", now=now)
    svc.number_assign(numbers=numbers[7:8], subscription=ended, actor=None, remark="a", now=now)
    svc.number_delete(numbers=numbers[8:9], reason=DeleteReason.FAULTY, actor=None, remark="d", now=now)
    svc.number_extend(numbers=numbers[2:3], did_reservation=did, actor=None, now=now)
    return {"n": numbers, "service": service, "customer": customer, "did": did, "ended": ended,
            "now": now, "csv": import_csv(tmp_path, "assign.csv", [numbers[9].e164], service)}


CALLS = {
    "add locked": lambda w: svc.number_add(numbers="+6562999999", vendor="Singtel Wholesale",
                                       sku="SG-DID-STD", actor=None, state=S.LOCKED, remark="x"),
    "reserve": lambda w: svc.number_reserve(numbers=w["n"][9:10], organization=w["customer"],
                                        actor=None, remark="x", now=w["now"]),
    "lock": lambda w: svc.number_lock(numbers=w["n"][9:10], actor=None, remark="x", now=w["now"]),
    "unlock": lambda w: svc.number_unlock(numbers=w["n"][3:4], actor=None, remark="x", now=w["now"]),
    "assign": lambda w: svc.number_assign(numbers=w["n"][0:1], subscription=w["service"], actor=None,
                                      remark="x", now=w["now"]),
    "release": lambda w: svc.number_release(numbers=w["n"][0:1], actor=None, remark="x", now=w["now"]),
    "extend": lambda w: svc.number_extend(numbers=w["n"][1:2], did_reservation=w["did"], actor=None,
                                      now=w["now"]),
    "delete": lambda w: svc.number_delete(numbers=w["n"][3:4], reason=DeleteReason.FAULTY, actor=None,
                                      remark="x", now=w["now"]),
    "recover": lambda w: svc.number_recover(numbers=w["n"][8:9], actor=None, remark="x", now=w["now"]),
    "next available": lambda w: svc.number_next_available(subscription=w["service"], actor=None,
                                                      remark="x", now=w["now"]),
    "mass edit": lambda w: svc.number_update_attributes(numbers=w["n"][:4], changes={"notes": "x"},
                                                    actor=None, remark="x", now=w["now"]),
    "swap": lambda w: svc.numbers_swap(subscription=w["service"], old=w["n"][5], new=w["n"][10],
                                   actor=None, remark="x", now=w["now"]),
    "subscription ended": lambda w: subscription_set_status(subscription=w["ended"],
                                                            status="terminated", actor=None,
                                                            now=w["now"]),
    "renewal": lambda w: subscription_renew(subscription=w["did"], actor=None, now=w["now"],
                                            current_period_end=w["now"] + 70 * DAY),
    "expiry sweep": lambda w: svc.numbers_expire_due(now=w["now"] + 400 * DAY),
    "import": lambda w: import_file(w["csv"], actor=None),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(CALLS))
def test_each_service_locks_in_the_one_order(world, name):
    with CaptureQueriesContext(connection) as captured:
        outcome = CALLS[name](world)
    ranks = lock_ranks(captured.captured_queries)
    assert ranks == sorted(ranks), (name, ranks)
    assert 1 in ranks, (name, outcome)  # it did lock or write numbers


def test_the_order_check_sees_a_number_locked_before_its_subscription():
    """The check above can fail: numbers first, then the subscription, is out of order."""
    queries = [{"sql": 'SELECT "inventory_phonenumber"."id" FROM "inventory_phonenumber" FOR UPDATE'},
               {"sql": 'SELECT * FROM "subscriptions_subscription" WHERE id = 1 FOR UPDATE OF "x"'}]
    ranks = lock_ranks(queries)
    assert ranks == [1, 0] and ranks != sorted(ranks)


# --- a number added meanwhile ---------------------------------------------------------------


def _waiting_on_a_lock(pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0] == "Lock")


@pytest.mark.django_db(transaction=True)
def test_a_number_added_while_the_file_is_imported_fails_the_import_cleanly(
        tmp_path, sample_catalog, ops_user):
    """Someone adds a number after the import read the table and before it wrote: the
    import waits for them, then imports nothing and says why (no traceback)."""
    path = tmp_path / "race.csv"
    path.write_text("number,country,vendor,sku\n+6566600002,SG,M1 Trunks,SG-DID-STD\n"
                    "+6566600001,SG,M1 Trunks,SG-DID-STD\n")
    added, commit, importer_pid = threading.Event(), threading.Event(), []
    outcome: dict = {}

    def adder() -> None:
        try:
            with transaction.atomic():
                svc.number_add(numbers="+6566600001", vendor="M1 Trunks", sku="SG-DID-STD", actor=None)
                added.set()
                commit.wait(TIMEOUT)
        finally:
            connection.close()

    def importer() -> None:
        try:
            connection.ensure_connection()
            importer_pid.append(connection.connection.info.backend_pid)
            outcome["summary"] = import_file(path, actor=ops_user)
        finally:
            connection.close()

    threads = [threading.Thread(target=adder, daemon=True)]
    threads[0].start()
    assert added.wait(TIMEOUT)
    threads.append(threading.Thread(target=importer, daemon=True))
    threads[1].start()
    deadline = time.monotonic() + TIMEOUT
    while not (importer_pid and _waiting_on_a_lock(importer_pid[0])):  # its insert waits on ours
        assert time.monotonic() < deadline, "the import never reached the new number"
        assert threads[1].is_alive(), "the import ended without waiting for the new number"
        time.sleep(0.02)  # polling with a deadline, not synchronisation by sleeping
    commit.set()
    for t in threads:
        t.join(TIMEOUT)
    summary = outcome["summary"]
    assert not summary.imported and "added by someone else" in summary.file_error
    assert list(PhoneNumber.objects.values_list("e164", flat=True)) == ["+6566600001"]
