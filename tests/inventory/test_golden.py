"""Golden numbers are sold only after being reserved (B3; DESIGN §3): assign, swap and
next-available never take an available golden number; reserved for the organization, they may."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState
from inventory.services import (
    NoNumberAvailable,
    ServiceError,
    number_assign,
    number_next_available,
    number_reserve,
)
from subscriptions.services import subscription_swap_number
from tests.inventory.svc_helpers import fresh, world

S = NumberState
GOLDEN_REFUSAL = "golden: sold only after being reserved for the organization"


def test_assign_refuses_an_available_golden_number(make_numbers, service, ops_user, now):
    golden = make_numbers(1, is_golden=True)[0]
    before = world(golden)
    result = number_assign(numbers=[golden], subscription=service, actor=ops_user, remark="a",
                           now=now)
    assert result.rejected == {golden.e164: GOLDEN_REFUSAL}
    assert world(golden) == before


def test_a_golden_number_reserved_for_the_organization_may_be_assigned(make_numbers, customer,
                                                                       other_customer, service,
                                                                       ops_user, now):
    ours, theirs = make_numbers(2, is_golden=True)
    number_reserve(numbers=[ours], organization=customer, actor=ops_user, remark="sold", now=now)
    number_reserve(numbers=[theirs], organization=other_customer, actor=ops_user, remark="sold",
                   now=now)
    result = number_assign(numbers=[ours, theirs], subscription=service, actor=ops_user,
                           remark="a", now=now)
    assert [n.pk for n in result.done] == [ours.pk]
    assert result.rejected[theirs.e164].startswith("reserved by Gamma Customer")
    assert (fresh(ours).state, fresh(ours).subscription) == (S.ASSIGNED, service)


def test_next_available_never_takes_an_available_golden_number(make_numbers, service, ops_user,
                                                              now):
    make_numbers(2, is_golden=True)
    with pytest.raises(NoNumberAvailable):
        number_next_available(subscription=service, actor=ops_user, remark="n", now=now)


def test_swap_refuses_an_available_golden_replacement_and_changes_nothing(make_numbers, service,
                                                                         ops_user, now):
    old = make_numbers(1)[0]
    golden = make_numbers(1, start="+6560000100", is_golden=True)[0]
    number_assign(numbers=[old], subscription=service, actor=ops_user, remark="a", now=now)
    before = world(old), world(golden)
    with pytest.raises(ServiceError, match=GOLDEN_REFUSAL):
        subscription_swap_number(subscription=service, old=old, new=golden, actor=ops_user,
                                 remark="swap", now=now)
    assert (world(old), world(golden)) == before


def test_swap_takes_a_golden_number_reserved_for_the_organization(make_numbers, customer, service,
                                                                  ops_user, now):
    old = make_numbers(1)[0]
    golden = make_numbers(1, start="+6560000100", is_golden=True)[0]
    number_assign(numbers=[old], subscription=service, actor=ops_user, remark="a", now=now)
    number_reserve(numbers=[golden], organization=customer, actor=ops_user, remark="sold", now=now)
    subscription_swap_number(subscription=service, old=old, new=golden, actor=ops_user,
                             remark="swap", now=now)
    assert (fresh(golden).state, fresh(old).state) == (S.ASSIGNED, S.RESERVED)
