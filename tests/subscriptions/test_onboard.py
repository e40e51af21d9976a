"""Onboarding (VOSS; DESIGN §3–4): a service subscription with a subscriber gets the numbers
kept for that username when it is created, activated or given the subscriber, within its
allowance; and subscription_update's refusals."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState, ReservationStatus
from inventory.models import Reservation
from inventory.services import (
    ServiceError,
    number_assign,
    number_extend,
    number_reserve,
    number_set_reserved_for,
)
from subscriptions.models import Subscription
from subscriptions.services import (
    subscription_create,
    subscription_onboard,
    subscription_set_status,
    subscription_update,
)
from tests.inventory.svc_helpers import fresh, history, world

S = NumberState


def keep_for(numbers, username, actor, now):
    assert number_set_reserved_for(numbers=numbers, reserved_for=username, actor=actor,
                                   remark="kept", now=now).done


def test_create_onboards_the_subscriber_s_numbers(make_numbers, customer, partner, other_customer,
                                                  ops_user, now):
    free, ours, partners, theirs, bobs = make_numbers(5)
    keep_for([free, ours, partners, theirs], "alice", ops_user, now)
    keep_for([bobs], "bob", ops_user, now)
    number_reserve(numbers=[ours], organization=customer, actor=ops_user, remark="r", now=now)
    number_reserve(numbers=[partners], organization=partner, actor=ops_user, remark="r", now=now)
    number_reserve(numbers=[theirs], organization=other_customer, actor=ops_user, remark="r",
                   now=now)
    sub, result = subscription_create(organization=customer, plan="Business DID",
                                      subscriber="alice", actor=ops_user, now=now)
    assert sorted(n.pk for n in result.done) == [free.pk, ours.pk, partners.pk]
    for number in (free, ours, partners):
        n = fresh(number)
        assert (n.state, n.subscription, n.organization) == (S.ASSIGNED, sub, customer)
        assert history(n)[-1].history_change_reason == "onboarded: kept for alice"
    assert Reservation.objects.get(number=ours).status == ReservationStatus.ASSIGNED
    assert fresh(theirs).state == S.RESERVED and fresh(bobs).state == S.AVAILABLE
    created = Subscription.history.filter(id=sub.pk).get()
    assert (created.history_user, created.history_change_reason) == (ops_user, "created")


def test_onboarding_stays_within_the_allowance(make_numbers, customer, ops_user, now):
    numbers = make_numbers(3)
    keep_for(numbers, "alice", ops_user, now)
    sub, result = subscription_create(organization=customer, subscriber="alice",
                                      number_allowance=2, actor=ops_user, now=now)
    assert [n.pk for n in result.done] == [n.pk for n in numbers[:2]]
    assert result.rejected == {numbers[2].e164: "allowance of 2 numbers reached"}
    assert fresh(numbers[2]).state == S.AVAILABLE
    # more room: the number left over is onboarded
    more = subscription_update(subscription=sub, changes={"number_allowance": 3}, actor=ops_user,
                               now=now)
    assert [n.pk for n in more.done] == [numbers[2].pk]
    assert sub.number_allowance == 3


def test_no_subscriber_or_a_did_reservation_onboards_nothing(make_numbers, customer, ops_user,
                                                             now):
    number = make_numbers(1)[0]
    keep_for([number], "alice", ops_user, now)
    _, plain = subscription_create(organization=customer, actor=ops_user, now=now)
    _, did = subscription_create(organization=customer, kind="did_reservation", subscriber="alice",
                                 actor=ops_user, now=now)
    assert (plain.done, did.done, fresh(number).state) == ([], [], S.AVAILABLE)


def test_activation_onboards_and_brings_back_held_numbers(make_numbers, customer,
                                                          make_subscription, ops_user, now):
    held, kept = make_numbers(2)
    sub = make_subscription(customer, subscriber="alice")
    number_assign(numbers=[held], subscription=sub, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=sub, status="suspended", actor=ops_user, now=now)
    keep_for([kept], "alice", ops_user, now)
    result = subscription_set_status(subscription=sub, status="active", actor=ops_user, now=now)
    assert sorted(n.pk for n in result.done) == [held.pk, kept.pk]
    assert {fresh(n).state for n in (held, kept)} == {S.ASSIGNED}


def test_a_new_subscriber_is_onboarded(make_numbers, customer, make_subscription, ops_user, now):
    number = make_numbers(1)[0]
    keep_for([number], "alice", ops_user, now)
    sub = make_subscription(customer)
    result = subscription_update(subscription=sub, changes={"subscriber": "alice"}, actor=ops_user,
                                 now=now)
    assert [n.pk for n in result.done] == [number.pk]
    assert Subscription.objects.get(pk=sub.pk).subscriber == "alice"
    assert subscription_onboard(subscription=sub, actor=ops_user, now=now).done == []  # rerun


def test_update_refuses_an_allowance_below_what_it_holds(make_numbers, service, ops_user, now):
    numbers = make_numbers(3)
    number_assign(numbers=numbers, subscription=service, actor=ops_user, remark="a", now=now)
    with pytest.raises(ServiceError, match="holds 3 numbers; its allowance cannot drop below"):
        subscription_update(subscription=service, changes={"number_allowance": 2}, actor=ops_user)
    assert Subscription.objects.get(pk=service.pk).number_allowance is None
    subscription_update(subscription=service, changes={"number_allowance": 3, "plan": "Pro"},
                        actor=ops_user)
    stored = Subscription.objects.get(pk=service.pk)
    assert (stored.number_allowance, stored.plan) == (3, "Pro")


@pytest.mark.parametrize("change", ["organization", "kind"])
def test_organization_and_kind_are_fixed_while_it_holds_numbers(change, make_numbers, service,
                                                                other_customer, ops_user, now):
    value = other_customer if change == "organization" else "did_reservation"
    number = make_numbers(1)[0]
    number_assign(numbers=[number], subscription=service, actor=ops_user, remark="a", now=now)
    before = world(number)
    with pytest.raises(ServiceError, match=f"holds 1 numbers; its {change} cannot change"):
        subscription_update(subscription=service, changes={change: value}, actor=ops_user)
    stored = Subscription.objects.get(pk=service.pk)
    assert (stored.organization_id, stored.kind) == (service.organization_id, "service")
    assert world(number) == before


def test_a_did_reservation_with_charged_numbers_keeps_its_organization(make_numbers, customer,
                                                                       other_customer,
                                                                       make_subscription,
                                                                       ops_user, now):
    did = make_subscription(customer, kind="did_reservation")
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    number_extend(numbers=[number], did_reservation=did, actor=ops_user, now=now)
    with pytest.raises(ServiceError, match="holds 1 numbers"):
        subscription_update(subscription=did, changes={"organization": other_customer.uuid},
                            actor=ops_user)


def test_an_empty_subscription_may_change_organization_and_update_refuses_status(
        service, other_customer, ops_user):
    subscription_update(subscription=service, changes={"organization": other_customer},
                        actor=ops_user, remark="moved to Gamma")
    stored = Subscription.objects.get(pk=service.pk)
    assert stored.organization == other_customer
    last = stored.history.latest()
    assert (last.history_user, last.history_change_reason) == (ops_user, "moved to Gamma")
    with pytest.raises(ServiceError, match="cannot be changed here: current_period_end, status"):
        subscription_update(subscription=service, changes={"status": "expired",
                                                           "current_period_end": None},
                            actor=ops_user)
