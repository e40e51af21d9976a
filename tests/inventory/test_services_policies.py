"""Periods come from LifecyclePolicy (DESIGN §3): the seeded defaults, edits in the table,
and the most specific matching row (country, SKU, ported-in) winning per number."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState, PolicyCause, ReservationKind, ReservationStatus
from inventory.models import LifecyclePolicy, Reservation, Sku
from inventory.services import (
    number_add,
    number_assign,
    number_lock,
    number_release,
    number_reserve,
    numbers_expire_due,
    policy_days,
)
from subscriptions.services import subscription_set_status, subscription_swap_number
from tests.inventory.svc_helpers import DAY, fresh, set_policy

S = NumberState
C = PolicyCause


@pytest.fixture
def gold_sku(db):
    return Sku.objects.create(code="SG-DID-GOLD", name="Golden")


@pytest.fixture
def add(vendor, sku, now):
    def add(spec, *, sku_=None, **attrs):
        result = number_add(numbers=spec, vendor=vendor, sku=sku_ or sku, actor=None, now=now,
                            **attrs)
        assert not result.rejected, result.rejected
        return result.done

    return add


def reserve_days(numbers, organization, actor, now) -> dict[str, float]:
    number_reserve(numbers=numbers, organization=organization, actor=actor, remark="r", now=now)
    return {n.e164: (fresh(n).expires_at - now) / DAY for n in numbers}


def test_the_seeded_defaults(db):
    rows = {
        p.cause: p.period_days
        for p in LifecyclePolicy.objects.filter(country="", sku=None, is_ported_in=None)
    }
    assert rows == {C.MANUAL: 28, C.SUBSCRIPTION_EXPIRED: 56, C.SUBSCRIPTION_TERMINATED: 28,
                    C.SWAPPED_OUT: 1, C.LOCK: 28, C.COOLING: 0, C.HOLD: 30, C.NOTICE_LEAD: 7}
    assert {cause: policy_days(cause) for cause in rows} == rows
    ported = {p.cause: p.period_days
              for p in LifecyclePolicy.objects.filter(country="", sku=None, is_ported_in=True)}
    assert ported == {C.MANUAL: 28, C.SUBSCRIPTION_EXPIRED: 84, C.SUBSCRIPTION_TERMINATED: 56,
                      C.SWAPPED_OUT: 28}


def test_manual_reserve_and_lock_are_28_days(make_numbers, customer, ops_user, now):
    a, b = make_numbers(2)
    number_reserve(numbers=[a], organization=customer, actor=ops_user, remark="r", now=now)
    number_lock(numbers=[b], actor=ops_user, remark="l", now=now)
    assert fresh(a).expires_at == now + 28 * DAY
    assert fresh(b).expires_at == now + 28 * DAY
    assert Reservation.objects.get(number=b).ends_at == now + 28 * DAY


@pytest.mark.parametrize(("status", "days", "kind"), [
    ("expired", 56, ReservationKind.SUBSCRIPTION_EXPIRED),
    ("terminated", 28, ReservationKind.SUBSCRIPTION_TERMINATED),
])
def test_subscription_end_periods(status, days, kind, make_numbers, customer, service, ops_user,
                                  now):
    number = make_numbers(1)[0]
    number_assign(numbers=[number], subscription=service, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=service, status=status, actor=ops_user, now=now)
    assert fresh(number).expires_at == now + days * DAY
    assert Reservation.objects.get(number=number, status="active").kind == kind


def test_swapped_out_is_1_day(make_numbers, service, ops_user, now):
    old, new = make_numbers(2)
    number_assign(numbers=[old], subscription=service, actor=ops_user, remark="a", now=now)
    subscription_swap_number(subscription=service, old=old, new=new, actor=ops_user,
                             remark="swap", now=now)
    assert fresh(old).expires_at == now + 1 * DAY


def test_cooling_0_is_off(make_numbers, customer, ops_user, now):
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    assert numbers_expire_due(now=now + 28 * DAY) == 1
    n = fresh(number)
    assert (n.state, n.expires_at, n.organization) == (S.AVAILABLE, None, None)


def test_cooling_after_an_expired_reservation_then_available(make_numbers, customer, ops_user, now):
    set_policy(C.COOLING, 2)
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    end = now + 28 * DAY
    assert numbers_expire_due(now=end) == 1
    n = fresh(number)
    assert (n.state, n.expires_at, n.after_cooling_state, n.organization) == (
        S.COOLING, end + 2 * DAY, S.AVAILABLE, None)
    assert Reservation.objects.get(number=number).status == ReservationStatus.EXPIRED
    assert numbers_expire_due(now=end + 2 * DAY) == 1
    assert fresh(number).state == S.AVAILABLE
    assert [h.state for h in fresh(number).history.order_by("history_id")] == [
        S.AVAILABLE, S.RESERVED, S.COOLING, S.AVAILABLE]


def test_locks_never_cool(make_numbers, ops_user, now):
    set_policy(C.COOLING, 2)
    number = make_numbers(1)[0]
    number_lock(numbers=[number], actor=ops_user, remark="l", now=now)
    numbers_expire_due(now=now + 28 * DAY)
    assert fresh(number).state == S.AVAILABLE


def test_an_edited_period_applies_to_the_next_action(make_numbers, customer, ops_user, now):
    set_policy(C.MANUAL, 14)
    number = make_numbers(1)[0]
    assert reserve_days([number], customer, ops_user, now) == {number.e164: 14}


def test_country_row_wins_over_the_general_row(add, customer, ops_user, now):
    set_policy(C.MANUAL, 10, country="SG")
    sg = add("+6560000000")[0]
    us = add("+12125550100")[0]
    assert reserve_days([sg, us], customer, ops_user, now) == {sg.e164: 10, us.e164: 28}


def test_sku_row_wins_over_the_general_row(add, gold_sku, customer, ops_user, now):
    set_policy(C.MANUAL, 7, sku=gold_sku)
    std = add("+6560000000")[0]
    gold = add("+6560000001", sku_=gold_sku)[0]
    assert reserve_days([std, gold], customer, ops_user, now) == {std.e164: 28, gold.e164: 7}


def test_country_and_sku_row_wins_over_either_alone(add, gold_sku, customer, ops_user, now):
    set_policy(C.MANUAL, 10, country="SG")
    set_policy(C.MANUAL, 7, sku=gold_sku)
    set_policy(C.MANUAL, 3, country="SG", sku=gold_sku)
    sg_gold = add("+6560000000", sku_=gold_sku)[0]
    sg_std = add("+6560000001")[0]
    us_gold = add("+12125550100", sku_=gold_sku)[0]
    us_std = add("+12125550101")[0]
    assert reserve_days([sg_gold, sg_std, us_gold, us_std], customer, ops_user, now) == {
        sg_gold.e164: 3, sg_std.e164: 10, us_gold.e164: 7, us_std.e164: 28}


def test_ported_in_rows(add, customer, ops_user, now):
    set_policy(C.MANUAL, 60, is_ported_in=True)
    ported = add("+6560000000", is_ported_in=True)[0]
    native = add("+6560000001")[0]
    assert reserve_days([ported, native], customer, ops_user, now) == {
        ported.e164: 60, native.e164: 28}
    set_policy(C.MANUAL, 20, is_ported_in=False)
    set_policy(C.MANUAL, 45, country="SG", is_ported_in=True)
    a = add("+6560000002", is_ported_in=True)[0]
    b = add("+6560000003")[0]
    c = add("+12125550100", is_ported_in=True)[0]
    assert reserve_days([a, b, c], customer, ops_user, now) == {a.e164: 45, b.e164: 20, c.e164: 60}


def test_cooling_and_lock_rows_are_matched_per_number(add, customer, ops_user, now):
    set_policy(C.COOLING, 4, country="SG")
    set_policy(C.LOCK, 90, country="US")
    sg = add("+6560000000")[0]
    us = add("+12125550100")[0]
    number_reserve(numbers=[sg, us], organization=customer, actor=ops_user, remark="r", now=now)
    number_release(numbers=[sg, us], actor=ops_user, remark="x", now=now)
    assert (fresh(sg).state, fresh(sg).expires_at) == (S.COOLING, now + 4 * DAY)
    assert (fresh(us).state, fresh(us).expires_at) == (S.AVAILABLE, None)
    sg2, us2 = add("+6560000001")[0], add("+12125550101")[0]
    number_lock(numbers=[sg2, us2], actor=ops_user, remark="l", now=now)
    assert fresh(sg2).expires_at == now + 28 * DAY
    assert fresh(us2).expires_at == now + 90 * DAY


def test_subscription_end_periods_follow_specific_rows(add, customer, service, ops_user, now):
    set_policy(C.SUBSCRIPTION_EXPIRED, 30, country="US")
    sg, us = add("+6560000000")[0], add("+12125550100")[0]
    number_assign(numbers=[sg, us], subscription=service, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=service, status="expired", actor=ops_user, now=now)
    assert fresh(sg).expires_at == now + 56 * DAY
    assert fresh(us).expires_at == now + 30 * DAY
