"""Audit and idempotence (DESIGN §3–4): one history row per changed number naming the actor
(the system user when there is none) and the remark; retries and double clicks change nothing."""

from __future__ import annotations

import pytest
from django.conf import settings

from inventory.choices import DeleteReason, NumberState
from inventory.models import PhoneNumber, Reservation
from inventory.services import (
    number_assign,
    number_delete,
    number_extend,
    number_lock,
    number_recover,
    number_release,
    number_reserve,
    number_unlock,
    numbers_expire_due,
    system_user,
)
from subscriptions.services import subscription_set_status, subscription_swap_number
from tests.inventory.svc_helpers import DAY, fresh, history, world

S = NumberState


def twice(call):
    first = call()
    return first, call()


@pytest.mark.parametrize("action", ["reserve", "lock", "unlock", "assign", "release", "delete",
                                    "recover", "extend"])
def test_doing_it_twice_is_harmless(action, make_numbers, customer, service, make_subscription,
                                    ops_user, now):
    number = make_numbers(1)[0]
    kw = {"numbers": [number], "actor": ops_user, "remark": "again", "now": now}
    # the state the action starts from
    if action in ("unlock", "delete"):
        number_lock(**kw)
    if action in ("release", "extend"):
        number_reserve(organization=customer, **kw)
    if action == "recover":
        number_delete(reason=DeleteReason.OTHER, **kw)
    did = make_subscription(customer, kind="did_reservation", period_end=now + 60 * DAY)
    call = {
        "reserve": lambda: number_reserve(organization=customer, **kw),
        "lock": lambda: number_lock(**kw),
        "unlock": lambda: number_unlock(**kw),
        "assign": lambda: number_assign(subscription=service, **kw),
        "release": lambda: number_release(**kw),
        "delete": lambda: number_delete(reason=DeleteReason.FAULTY, **kw),
        "recover": lambda: number_recover(**kw),
        "extend": lambda: number_extend(numbers=[number], did_reservation=did, actor=ops_user,
                                        now=now),
    }[action]
    first = call()
    assert [n.pk for n in first.done] == [number.pk], first.rejected
    after_first = world(number)
    second = call()
    assert (second.done, second.rejected) == ([], {})
    assert [n.pk for n in second.unchanged] == [number.pk]
    assert second.summary() == "0 done, 0 refused, 1 already so"
    assert world(number) == after_first


def test_one_history_row_per_changed_number_with_actor_and_remark(make_numbers, customer, ops_user,
                                                                  now):
    numbers = make_numbers(5)
    number_lock(numbers=numbers[:2], actor=ops_user, remark="hold back", now=now)
    result = number_reserve(numbers=numbers, organization=customer, actor=ops_user,
                            remark="ticket 42", now=now + DAY)
    assert len(result.done) == 3 and len(result.rejected) == 2
    for n in numbers[:2]:
        rows = history(n)
        assert [r.history_change_reason for r in rows] == ["added", "hold back"]
    for n in numbers[2:]:
        rows = history(n)
        assert len(rows) == 2
        added, reserved = rows
        assert (added.history_type, added.history_user, added.state) == ("+", system_user(),
                                                                        S.AVAILABLE)
        assert (reserved.history_type, reserved.history_user, reserved.history_change_reason) == (
            "~", ops_user, "ticket 42")
        assert (reserved.state, reserved.organization_id, reserved.history_date) == (
            S.RESERVED, customer.pk, now + DAY)
        assert reserved.expires_at == now + DAY + 28 * DAY
    assert PhoneNumber.history.filter(history_change_reason="ticket 42").count() == 3


def test_the_system_is_recorded_when_no_one_acts(make_numbers, customer, service, now):
    a, b = make_numbers(2)
    number_lock(numbers=[a], actor=None, remark="automation", now=now)
    number_assign(numbers=[b], subscription=service, actor=None, remark="api", now=now)
    subscription_set_status(subscription=service, status="terminated", actor=None, now=now)
    numbers_expire_due(now=now + 28 * DAY)
    system = system_user()
    assert system.username == settings.SYSTEM_USERNAME and not system.is_active
    for n in (a, b):
        assert {r.history_user for r in history(n)} == {system}
    assert [r.history_change_reason for r in history(a)] == ["added", "automation", "lock expired"]
    assert [r.history_change_reason for r in history(b)][-1] == "reservation expired"
    assert Reservation.objects.get(number=a).created_by is None


def test_automatic_moves_write_one_row_each(make_numbers, customer, service, ops_user, now):
    numbers = make_numbers(3)
    number_assign(numbers=numbers, subscription=service, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=service, status="expired", actor=ops_user, now=now)
    for n in numbers:
        rows = history(n)
        assert len(rows) == 3
        assert rows[-1].state == S.RESERVED
        assert rows[-1].history_user == ops_user
        assert "expired" in rows[-1].history_change_reason


def test_a_swap_writes_one_row_for_each_of_the_two_numbers(make_numbers, service, ops_user, now):
    old, new, other = make_numbers(3)
    number_assign(numbers=[old], subscription=service, actor=ops_user, remark="a", now=now)
    subscription_swap_number(subscription=service, old=old, new=new, actor=ops_user,
                             remark="customer asked", now=now)
    for n, state in ((old, S.RESERVED), (new, S.ASSIGNED)):
        last = history(n)[-1]
        assert (last.state, last.history_user, last.history_change_reason) == (
            state, ops_user, "customer asked")
    assert len(history(old)) == 3 and len(history(new)) == 2
    assert len(history(other)) == 1


def test_refusals_and_repeats_write_no_history(make_numbers, customer, ops_user, now):
    numbers = make_numbers(2)
    number_lock(numbers=numbers, actor=ops_user, remark="l", now=now)
    count = PhoneNumber.history.count()
    number_lock(numbers=numbers, actor=ops_user, remark="again", now=now)
    number_reserve(numbers=numbers, organization=customer, actor=ops_user, remark="r", now=now)
    number_recover(numbers=numbers, actor=ops_user, remark="r", now=now)
    assert PhoneNumber.history.count() == count
    assert [fresh(n).state for n in numbers] == [S.LOCKED, S.LOCKED]
