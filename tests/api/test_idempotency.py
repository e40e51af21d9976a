"""Idempotency-Key: a retried write is answered from the record and changes nothing more."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from api.models import IdempotencyRecord
from inventory.models import PhoneNumber

pytestmark = pytest.mark.django_db


def _history(e164: str) -> int:
    return PhoneNumber.objects.get(e164=e164).history.count()


def test_same_key_same_body_replays_the_answer_and_changes_nothing(ops, make_numbers, customer):
    make_numbers(1)
    body = {"numbers": ["+6560000000"], "remark": "order 9", "organization": str(customer.uuid)}
    first = ops.post("/numbers/actions/reserve/", body, headers={"Idempotency-Key": "order-9"})
    rows = _history("+6560000000")
    ops.post("/numbers/actions/release/", {"numbers": ["+6560000000"], "remark": "undo"})
    again = ops.post("/numbers/actions/reserve/", body, headers={"Idempotency-Key": "order-9"})
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert first.json()["done"] == ["+6560000000"]
    assert again["Idempotent-Replayed"] == "true"
    assert PhoneNumber.objects.get(e164="+6560000000").state == "available"  # not reserved again
    assert _history("+6560000000") == rows + 1  # only the release


def test_same_key_other_body_is_422(ops, make_numbers):
    make_numbers(2)
    ops.post("/numbers/actions/lock/", {"numbers": ["+6560000000"], "remark": "x"},
             headers={"Idempotency-Key": "k1"})
    other = ops.post("/numbers/actions/lock/", {"numbers": ["+6560000001"], "remark": "x"},
                     headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422 and other["Content-Type"] == "application/problem+json"
    assert PhoneNumber.objects.get(e164="+6560000001").state == "available"


def test_still_running_is_409(ops, make_numbers):
    from api.models import ApiKey

    make_numbers(1)
    key = ApiKey.objects.get(name="provisioning")
    body = {"numbers": ["+6560000000"], "remark": "x"}
    ops.post("/numbers/actions/lock/", body, headers={"Idempotency-Key": "k2"})
    IdempotencyRecord.objects.filter(api_key=key, key="k2").update(status_code=None)  # as if running
    response = ops.post("/numbers/actions/lock/", body, headers={"Idempotency-Key": "k2"})
    assert response.status_code == 409


def test_keys_are_per_api_key_and_kept_24_hours(ops, make_key, make_numbers):
    make_numbers(2)
    other, _ = make_key("billing", group="Ops")
    ops.post("/numbers/actions/lock/", {"numbers": ["+6560000000"], "remark": "x"},
             headers={"Idempotency-Key": "same"})
    mine = other.post("/numbers/actions/lock/", {"numbers": ["+6560000001"], "remark": "x"},
                      headers={"Idempotency-Key": "same"})
    assert mine.status_code == 200 and mine.json()["done"] == ["+6560000001"]
    IdempotencyRecord.objects.update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    reused = ops.post("/numbers/actions/unlock/", {"numbers": ["+6560000000"], "remark": "x"},
                      headers={"Idempotency-Key": "same"})
    assert reused.status_code == 200 and reused.json()["done"] == ["+6560000000"]


def test_a_failed_request_is_not_stored(ops, make_numbers):
    make_numbers(1)
    bad = ops.post("/numbers/actions/lock/", {"numbers": ["+6560000000"]}, headers={"Idempotency-Key": "k3"})
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.filter(key="k3").exists()
    good = ops.post("/numbers/actions/lock/", {"numbers": ["+6560000000"], "remark": "x"},
                    headers={"Idempotency-Key": "k3"})
    assert good.status_code == 200 and good.json()["done"] == ["+6560000000"]


def test_patch_and_create_replay(ops, make_numbers, partner):
    make_numbers(1)
    body = {"name": "Once", "kind": "customer", "parent": str(partner.uuid)}
    first = ops.post("/organizations/", body, headers={"Idempotency-Key": "org-1"})
    second = ops.post("/organizations/", body, headers={"Idempotency-Key": "org-1"})
    assert first.status_code == second.status_code == 201 and first.json() == second.json()
    from subscriptions.models import Organization

    assert Organization.objects.filter(name="Once").count() == 1
    patch = {"notes": "n", "remark": "r"}
    p1 = ops.patch("/numbers/%2B6560000000/", patch, headers={"Idempotency-Key": "p"})
    p2 = ops.patch("/numbers/%2B6560000000/", patch, headers={"Idempotency-Key": "p"})
    assert p1.json() == p2.json() and p1["ETag"] == p2["ETag"]


def test_an_oversized_key_is_400(ops, make_numbers):
    make_numbers(1)
    response = ops.post("/numbers/actions/lock/", {"numbers": ["+6560000000"], "remark": "x"},
                        headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_parallel_twins_change_once(make_key, make_numbers, customer):
    """Real threads, each with its own connection: one 409 or both the same answer."""
    make_numbers(200)
    api, _ = make_key("twins", group="Ops")
    numbers = [f"+{6560000000 + i}" for i in range(200)]
    body = {"numbers": numbers, "remark": "twins", "organization": str(customer.uuid)}
    for attempt in range(3):
        key = f"twin-{attempt}"
        barrier = threading.Barrier(2)
        answers: list = []

        def call(key=key, barrier=barrier, answers=answers):
            try:
                barrier.wait()
                r = api.post("/numbers/actions/reserve/", body, headers={"Idempotency-Key": key})
                answers.append((r.status_code, r.json()))
            finally:
                connection.close()

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        codes = sorted(code for code, _ in answers)
        assert codes in ([200, 200], [200, 409]), answers
        if codes == [200, 200]:
            assert answers[0][1] == answers[1][1]
        history = PhoneNumber.history.filter(e164=numbers[0], history_change_reason="twins").count()
        assert history == 1  # reserved once, whatever the interleaving
        api.post("/numbers/actions/release/", {"numbers": numbers, "remark": "reset"})
        PhoneNumber.history.filter(history_change_reason="twins").delete()
