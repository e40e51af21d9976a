"""Eight provisioning clients reserving the same numbers at once, on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from inventory.models import PhoneNumber, Reservation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_clients_reserve_the_same_numbers_each_exactly_once(make_key, make_numbers, customer):
    make_numbers(300)
    numbers = [f"+{6560000000 + i}" for i in range(300)]
    clients = [make_key(f"prov-{i}", group="Ops")[0] for i in range(8)]
    barrier = threading.Barrier(len(clients))
    answers: list[dict] = []
    errors: list[BaseException] = []

    def run(api, offset: int):
        try:
            barrier.wait()
            # Each client asks for all numbers, in its own order: the service locks in pk order.
            mine = numbers[offset:] + numbers[:offset]
            r = api.post("/numbers/actions/reserve/", {"numbers": mine, "remark": f"client {offset}",
                                                       "organization": str(customer.uuid)})
            assert r.status_code == 200, r.content
            answers.append(r.json())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(api, i * 37)) for i, api in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    done = [e164 for a in answers for e164 in a["done"]]
    assert sorted(done) == numbers  # each reserved by exactly one client
    for a in answers:
        assert set(a["done"]) | set(a["unchanged"]) | set(a["refused"]) == set(numbers)
    assert Reservation.objects.filter(status="active").count() == 300
    assert PhoneNumber.objects.filter(state="reserved").count() == 300
