"""Who may take a number (DESIGN §3, assign): the reserver, a partner's customers, the named
subscriber, within the allowance, only into an active service subscription."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState, ReservationStatus
from inventory.models import Reservation
from inventory.services import (
    ServiceError,
    number_assign,
    number_delete,
    number_extend,
    number_lock,
    number_recover,
    number_release,
    number_reserve,
    number_unlock,
)
from subscriptions.models import Organization
from tests.inventory.svc_helpers import fresh, world

S = NumberState


def assign(numbers, subscription, actor, now):
    return number_assign(numbers=numbers, subscription=subscription, actor=actor, remark="go",
                         now=now)


def reserve(numbers, organization, actor, now, reserved_for=None):
    result = number_reserve(numbers=numbers, organization=organization, actor=actor, remark="r",
                            reserved_for=reserved_for, now=now)
    assert len(result.done) == len(numbers), result.rejected


def test_reserved_for_goes_only_to_that_subscribers_subscription(make_numbers, customer,
                                                                 make_subscription, ops_user, now):
    number = make_numbers(1)[0]
    reserve([number], customer, ops_user, now, reserved_for="alice")
    before = world(number)
    for subscriber in ("bob", ""):
        sub = make_subscription(customer, subscriber=subscriber)
        result = assign([number], sub, ops_user, now)
        reason = result.rejected[number.e164]
        assert reason.startswith("reserved for alice; the subscription's subscriber is ")
        assert world(number) == before
    alice = make_subscription(customer, subscriber="alice")
    assert assign([number], alice, ops_user, now).done
    n = fresh(number)
    assert (n.state, n.subscription, n.reserved_for) == (S.ASSIGNED, alice, "alice")


def test_reserved_for_alice_of_another_organization_is_refused(make_numbers, customer,
                                                               other_customer, make_subscription,
                                                               ops_user, now):
    number = make_numbers(1)[0]
    reserve([number], customer, ops_user, now, reserved_for="alice")
    elsewhere = make_subscription(other_customer, subscriber="alice")
    result = assign([number], elsewhere, ops_user, now)
    assert result.rejected[number.e164] == (
        "reserved by Beta Customer; the subscription belongs to Gamma Customer")


def test_a_partners_reservation_goes_to_its_customers(make_numbers, partner, customer,
                                                      other_customer, make_subscription, ops_user,
                                                      now):
    numbers = make_numbers(3)
    reserve(numbers, partner, ops_user, now)
    # another of the partner's customers, the partner itself, and another partner's customer
    sibling = Organization.objects.create(name="Delta Customer", kind="customer", parent=partner)
    mine, sib, own = (make_subscription(o) for o in (customer, sibling, partner))
    theirs = make_subscription(other_customer)

    before = world(numbers[0])
    refused = assign(numbers[:1], theirs, ops_user, now)
    assert refused.rejected == {
        numbers[0].e164: "reserved by Acme Partner; the subscription belongs to Gamma Customer"}
    assert world(numbers[0]) == before

    assert assign(numbers[:1], mine, ops_user, now).done
    assert assign(numbers[1:2], sib, ops_user, now).done
    assert assign(numbers[2:], own, ops_user, now).done
    assert [(fresh(n).organization, fresh(n).subscription) for n in numbers] == [
        (customer, mine), (sibling, sib), (partner, own)]
    assert set(Reservation.objects.values_list("status", flat=True)) == {ReservationStatus.ASSIGNED}


def test_a_customers_reservation_does_not_go_to_its_partner_or_siblings(make_numbers, partner,
                                                                        customer,
                                                                        make_subscription,
                                                                        ops_user, now):
    number = make_numbers(1)[0]
    reserve([number], customer, ops_user, now)
    sibling = Organization.objects.create(name="Delta Customer", kind="customer", parent=partner)
    for org in (partner, sibling):
        result = assign([number], make_subscription(org), ops_user, now)
        assert result.rejected[number.e164].startswith("reserved by Beta Customer;")
    assert fresh(number).state == S.RESERVED


def test_visible_to_another_partner_is_refused(make_numbers, partner, other_partner, customer,
                                               other_customer, make_subscription, ops_user, now):
    a, b = make_numbers(2, visible_to=partner)
    result = assign([a], make_subscription(other_customer), ops_user, now)
    assert result.rejected == {a.e164: "visible only to another partner"}
    assert fresh(a).state == S.AVAILABLE
    assert assign([a], make_subscription(customer), ops_user, now).done
    assert assign([b], make_subscription(partner), ops_user, now).done


def test_allowance_is_enforced_across_calls(make_numbers, customer, make_subscription, ops_user,
                                            now):
    sub = make_subscription(customer, allowance=3)
    numbers = make_numbers(5)
    first = assign(numbers[:2], sub, ops_user, now)
    assert len(first.done) == 2
    second = assign(numbers[2:], sub, ops_user, now)
    assert [n.pk for n in second.done] == [numbers[2].pk]
    assert second.rejected == {n.e164: "allowance of 3 numbers reached" for n in numbers[3:]}
    assert [fresh(n).state for n in numbers] == [S.ASSIGNED] * 3 + [S.AVAILABLE] * 2
    # a number already in the subscription does not count twice
    again = assign(numbers[:1], sub, ops_user, now)
    assert (again.done, again.rejected, [n.pk for n in again.unchanged]) == ([], {}, [numbers[0].pk])


def test_allowance_zero_takes_nothing_and_unlimited_takes_all(make_numbers, customer,
                                                              make_subscription, ops_user, now):
    numbers = make_numbers(4)
    none = make_subscription(customer, allowance=0)
    assert len(assign(numbers, none, ops_user, now).rejected) == 4
    unlimited = make_subscription(customer, allowance=None)
    assert len(assign(numbers, unlimited, ops_user, now).done) == 4


@pytest.mark.parametrize("status", ["expired", "terminated"])
def test_inactive_subscriptions_are_refused(status, make_numbers, customer, make_subscription,
                                            ops_user, now):
    number = make_numbers(1)[0]
    sub = make_subscription(customer, status=status)
    before = world(number)
    with pytest.raises(ServiceError, match=f"is {status}, not active"):
        assign([number], sub, ops_user, now)
    assert world(number) == before


def test_a_did_reservation_subscription_cannot_hold_numbers(make_numbers, customer,
                                                            make_subscription, ops_user, now):
    number = make_numbers(1)[0]
    did = make_subscription(customer, kind="did_reservation")
    before = world(number)
    with pytest.raises(ServiceError, match="needs a Service subscription"):
        assign([number], did, ops_user, now)
    assert world(number) == before


def test_extend_needs_an_active_did_reservation_subscription(make_numbers, customer, service,
                                                             make_subscription, ops_user, now):
    number = make_numbers(1)[0]
    reserve([number], customer, ops_user, now)
    before = world(number)
    with pytest.raises(ServiceError, match="needs a DID reservation subscription"):
        number_extend(numbers=[number], did_reservation=service, actor=ops_user, now=now)
    lapsed = make_subscription(customer, kind="did_reservation", status="expired")
    with pytest.raises(ServiceError, match="not active"):
        number_extend(numbers=[number], did_reservation=lapsed, actor=ops_user, now=now)
    with pytest.raises(ServiceError):
        number_extend(numbers=[number], did_reservation=None, actor=ops_user, now=now)
    assert world(number) == before


@pytest.mark.parametrize("remark", ["", "   ", None])
def test_a_remark_is_required(remark, make_numbers, customer, service, ops_user, now):
    from inventory.services import number_next_available

    number = make_numbers(1)[0]
    before = world(number)
    kw = {"numbers": [number], "actor": ops_user, "remark": remark, "now": now}
    calls = [
        lambda: number_reserve(organization=customer, **kw),
        lambda: number_lock(**kw),
        lambda: number_unlock(**kw),
        lambda: number_assign(subscription=service, **kw),
        lambda: number_release(**kw),
        lambda: number_delete(reason="other", **kw),
        lambda: number_recover(**kw),
        lambda: number_next_available(subscription=service, actor=ops_user, remark=remark, now=now),
    ]
    for call in calls:
        with pytest.raises(ServiceError, match="remark is required"):
            call()
    assert world(number) == before
