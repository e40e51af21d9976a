"""The set-wise expiry sweep (inventory.services.automatic): what one batch writes, and the
array parameters its PostgreSQL statements take."""

from __future__ import annotations

import datetime as dt

import pytest

from events.models import Event
from inventory.bulk import bound_cursor, pg_array, pg_ids
from inventory.choices import NumberState
from inventory.services import number_lock, number_reserve, numbers_expire_due, system_user
from notifications.models import Notice
from tests.inventory.svc_helpers import DAY, fresh, history

S = NumberState


@pytest.mark.postgres
@pytest.mark.django_db
def test_array_parameters_round_trip_awkward_values():
    texts = ['plain', 'a "quoted" word', "back\\slash", "comma, {brace}", "NULL", "", None, "ünï"]
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    with bound_cursor() as cursor:
        cursor.execute("SELECT %s::text[], %s::bigint[], %s::timestamptz[], %s::bool[]",
                       [pg_array(texts), pg_ids([3, 1, 2]), pg_array([stamp, None]),
                        pg_array([True, False])])
        got = cursor.fetchone()
    assert got == (texts, [3, 1, 2], [stamp, None], [True, False])


@pytest.mark.django_db
def test_one_batch_of_reservations_and_locks_writes_each_number_its_own_end(
        make_numbers, customer, partner, ops_user, now):
    reserved = make_numbers(3, start="+6560000000")
    locked = make_numbers(2, start="+6560000100", visible_to=partner)
    number_reserve(numbers=reserved, organization=customer, actor=ops_user, remark="r",
                   reserved_for="bob", now=now)
    number_lock(numbers=locked, actor=ops_user, remark="l", now=now)
    later = now + 60 * DAY
    before = Event.objects.count()
    assert numbers_expire_due(now=later) == 5
    for n in map(fresh, reserved + locked):
        assert (n.state, n.expires_at, n.organization_id, n.state_changed_at) == (
            S.AVAILABLE, None, None, later)
        last = history(n)[-1]
        assert (last.state, last.history_user, last.history_date) == (S.AVAILABLE, system_user(), later)
    assert {fresh(n).reserved_for for n in reserved} == {"bob"}  # the flag stays
    assert [history(n)[-1].history_change_reason for n in reserved + locked] == [
        "reservation expired"] * 3 + ["lock expired"] * 2
    assert Notice.objects.filter(kind="lock_expired").count() == 2
    told = {item["e164"]: item for e in Event.objects.order_by("pk")[before:]
            for item in e.data["numbers"]}
    assert set(told) == {n.e164 for n in reserved + locked}
    first = told[reserved[0].e164]
    assert (first["before"]["state"], first["before"]["organization"], first["after"]["state"],
            first["after"]["organization"], first["after"]["reserved_for"]) == (
        S.RESERVED, str(customer.uuid), S.AVAILABLE, None, "bob")
    assert numbers_expire_due(now=later) == 0
    assert Event.objects.count() == before + 2  # one per kind of end
