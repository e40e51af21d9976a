"""subscriptions.services (DESIGN §3–4): when a subscription ends, renews or swaps a number,
its numbers follow through the inventory services."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.choices import NumberState, ReservationKind, ReservationStatus
from inventory.models import Reservation
from inventory.services import (
    ServiceError,
    number_assign,
    number_lock,
    number_reserve,
)
from subscriptions.models import Subscription
from subscriptions.services import (
    subscription_renew,
    subscription_set_status,
    subscription_swap_number,
    subscriptions_expire_due,
)
from tests.inventory.svc_helpers import fresh, history, world

S = NumberState
DAY = dt.timedelta(days=1)


def assign(numbers, subscription, actor, now):
    result = number_assign(numbers=numbers, subscription=subscription, actor=actor, remark="a",
                           now=now)
    assert len(result.done) == len(numbers), result.rejected


@pytest.mark.parametrize(("status", "days", "kind"), [
    ("expired", 56, ReservationKind.SUBSCRIPTION_EXPIRED),
    ("terminated", 28, ReservationKind.SUBSCRIPTION_TERMINATED),
])
def test_an_ended_subscription_hands_its_numbers_back_reserved(status, days, kind, make_numbers,
                                                               customer, make_subscription,
                                                               ops_user, now):
    sub = make_subscription(customer, subscriber="alice")
    numbers = make_numbers(3)
    number_reserve(numbers=numbers[:1], organization=customer, actor=ops_user, remark="r",
                   reserved_for="alice", now=now)
    assign(numbers, sub, ops_user, now)
    later = now + 5 * DAY
    result = subscription_set_status(subscription=sub, status=status, actor=ops_user, now=later)
    assert sorted(n.pk for n in result.done) == [n.pk for n in numbers]
    assert Subscription.objects.get(pk=sub.pk).status == status
    assert sub.status == status
    for number in numbers:
        n = fresh(number)
        assert (n.state, n.organization, n.subscription, n.expires_at) == (
            S.RESERVED, customer, None, later + days * DAY)
        r = Reservation.objects.get(number=n, status=ReservationStatus.ACTIVE)
        assert (r.kind, r.organization, r.starts_at, r.ends_at, r.notice_email) == (
            kind, customer, later, later + days * DAY, "billing@beta.example")
        assert history(n)[-1].state == S.RESERVED
    # the user a number was held for keeps their claim
    assert fresh(numbers[0]).reserved_for == "alice"
    assert Reservation.objects.get(number=numbers[0], status="active").reserved_for == "alice"


def test_returned_numbers_can_go_to_another_subscription_of_the_organization(
        make_numbers, customer, other_customer, make_subscription, ops_user, now):
    old = make_subscription(customer)
    number = make_numbers(1)[0]
    assign([number], old, ops_user, now)
    subscription_set_status(subscription=old, status="terminated", actor=ops_user, now=now)
    theirs = make_subscription(other_customer)
    refused = number_assign(numbers=[number], subscription=theirs, actor=ops_user, remark="x",
                            now=now)
    assert refused.rejected[number.e164].startswith("reserved by Beta Customer")
    new = make_subscription(customer)
    assign([number], new, ops_user, now)
    assert fresh(number).subscription == new
    assert Reservation.objects.get(number=number).status == ReservationStatus.ASSIGNED


def test_setting_the_same_status_again_changes_nothing(make_numbers, customer, service, ops_user,
                                                       now):
    number = make_numbers(1)[0]
    assign([number], service, ops_user, now)
    subscription_set_status(subscription=service, status="expired", actor=ops_user, now=now)
    before = world(number)
    again = subscription_set_status(subscription=service, status="expired", actor=ops_user,
                                    now=now + DAY)
    assert (again.done, again.rejected) == ([], {})
    # terminating an expired subscription: its numbers are already back, nothing happens twice
    subscription_set_status(subscription=service, status="terminated", actor=ops_user, now=now + DAY)
    assert world(number) == before


def test_an_active_status_moves_no_numbers(make_numbers, service, ops_user, now):
    number = make_numbers(1)[0]
    assign([number], service, ops_user, now)
    before = world(number)
    subscription_set_status(subscription=service, status="active", actor=ops_user, now=now)
    assert world(number) == before


def test_an_unknown_status_is_refused(service, ops_user, now):
    with pytest.raises(ServiceError, match="Unknown subscription status"):
        subscription_set_status(subscription=service, status="paused", actor=ops_user, now=now)
    assert Subscription.objects.get(pk=service.pk).status == "active"


def test_subscriptions_expire_due(make_numbers, customer, make_subscription, ops_user, now):
    due = make_subscription(customer, period_end=now - DAY)
    on_time = make_subscription(customer, period_end=now)
    later = make_subscription(customer, period_end=now + DAY)
    a, b, c = make_numbers(3)
    assign([a], due, ops_user, now)
    assign([b], on_time, ops_user, now)
    assign([c], later, ops_user, now)
    assert subscriptions_expire_due(now=now) == 2
    assert [Subscription.objects.get(pk=s.pk).status for s in (due, on_time, later)] == [
        "expired", "expired", "active"]
    assert [fresh(n).state for n in (a, b, c)] == [S.RESERVED, S.RESERVED, S.ASSIGNED]
    assert fresh(a).expires_at == now + 56 * DAY
    assert subscriptions_expire_due(now=now) == 0


def test_renew_moves_the_period_and_refuses_an_ended_subscription(customer, service,
                                                                  make_subscription, ops_user,
                                                                  now):
    assert subscription_renew(subscription=service, current_period_end=now + 60 * DAY,
                              actor=ops_user, now=now) == 0
    assert Subscription.objects.get(pk=service.pk).current_period_end == now + 60 * DAY
    ended = make_subscription(customer, status="terminated")
    with pytest.raises(ServiceError, match="cannot renew"):
        subscription_renew(subscription=ended, current_period_end=now + 60 * DAY, actor=ops_user,
                           now=now)
    assert Subscription.objects.get(pk=ended.pk).current_period_end == now + 30 * DAY


# --- swap ----------------------------------------------------------------------------


def swap(sub, old, new, actor, now, remark="customer asked"):
    return subscription_swap_number(subscription=sub, old=old, new=new, actor=actor,
                                    remark=remark, now=now)


def test_swap_reserves_the_old_number_for_a_day_and_assigns_the_new(make_numbers, customer,
                                                                    service, ops_user, now):
    old, new = make_numbers(2)
    assign([old], service, ops_user, now)
    result = swap(service, old, new, ops_user, now + DAY)
    assert sorted(n.pk for n in result.done) == [old.pk, new.pk]
    o, n = fresh(old), fresh(new)
    assert (o.state, o.organization, o.subscription, o.expires_at) == (
        S.RESERVED, customer, None, now + 2 * DAY)
    (r,) = Reservation.objects.filter(number=o)
    assert (r.kind, r.status, r.organization, r.ends_at, r.remark) == (
        ReservationKind.SWAPPED_OUT, ReservationStatus.ACTIVE, customer, now + 2 * DAY,
        "customer asked")
    assert (n.state, n.subscription, n.organization) == (S.ASSIGNED, service, customer)


def test_swap_in_a_number_the_organization_reserved(make_numbers, customer, service, ops_user, now):
    old, new = make_numbers(2)
    assign([old], service, ops_user, now)
    number_reserve(numbers=[new], organization=customer, actor=ops_user, remark="r", now=now)
    swap(service, old, new, ops_user, now)
    assert fresh(new).state == S.ASSIGNED
    assert Reservation.objects.get(number=new).status == ReservationStatus.ASSIGNED


def test_swap_works_when_the_subscription_is_at_its_allowance(make_numbers, customer,
                                                              make_subscription, ops_user, now):
    sub = make_subscription(customer, allowance=1)
    old, new = make_numbers(2)
    assign([old], sub, ops_user, now)
    swap(sub, old, new, ops_user, now)
    assert (fresh(old).state, fresh(new).state) == (S.RESERVED, S.ASSIGNED)
    assert fresh(new).subscription == sub


def test_a_refused_replacement_leaves_both_numbers_alone(make_numbers, customer, other_customer,
                                                         other_partner, service, ops_user, now):
    old, locked, taken, hidden = make_numbers(4)
    hidden_number = make_numbers(1, start="+6560000100", visible_to=other_partner)[0]
    assign([old], service, ops_user, now)
    number_lock(numbers=[locked], actor=ops_user, remark="l", now=now)
    number_reserve(numbers=[taken], organization=other_customer, actor=ops_user, remark="r",
                   now=now)
    for new, message in ((locked, "is locked"), (taken, "reserved by Gamma Customer"),
                         (hidden_number, "visible only to another partner")):
        before = (world(old), world(new))
        with pytest.raises(ServiceError, match=message):
            swap(service, old, new, ops_user, now)
        assert (world(old), world(new)) == before


def test_swap_needs_the_old_number_in_this_subscription(make_numbers, customer, service,
                                                       make_subscription, ops_user, now):
    old, new, elsewhere = make_numbers(3)
    other_sub = make_subscription(customer)
    assign([elsewhere], other_sub, ops_user, now)
    before = (world(old), world(new), world(elsewhere))
    with pytest.raises(ServiceError, match="not assigned to this subscription"):
        swap(service, old, new, ops_user, now)
    with pytest.raises(ServiceError, match="not assigned to this subscription"):
        swap(service, elsewhere, new, ops_user, now)
    assign([old], service, ops_user, now)
    with pytest.raises(ServiceError, match="two different"):
        swap(service, old, old, ops_user, now)
    with pytest.raises(ServiceError, match="remark is required"):
        swap(service, old, new, ops_user, now, remark=" ")
    assert (world(new), world(elsewhere)) == before[1:]
    assert fresh(old).state == S.ASSIGNED


def test_swap_into_an_ended_subscription_is_refused(make_numbers, customer, service, ops_user, now):
    old, new = make_numbers(2)
    assign([old], service, ops_user, now)
    subscription_set_status(subscription=service, status="terminated", actor=ops_user, now=now)
    before = (world(old), world(new))
    with pytest.raises(ServiceError, match="not active"):
        swap(service, old, new, ops_user, now)
    assert (world(old), world(new)) == before


def test_a_retried_swap_is_harmless(make_numbers, customer, service, ops_user, now):
    old, new = make_numbers(2)
    assign([old], service, ops_user, now)
    swap(service, old, new, ops_user, now)
    before = (world(old), world(new))
    again = swap(service, old, new, ops_user, now)  # a double click or a retried task
    assert (again.done, again.rejected) == ([], {})
    assert sorted(n.pk for n in again.unchanged) == [old.pk, new.pk]
    assert (world(old), world(new)) == before


def test_swap_to_a_number_already_in_the_subscription_is_refused(make_numbers, service, ops_user,
                                                                 now):
    old, new = make_numbers(2)
    assign([old, new], service, ops_user, now)
    before = (world(old), world(new))
    with pytest.raises(ServiceError, match="already assigned to this subscription"):
        swap(service, old, new, ops_user, now)
    assert (world(old), world(new)) == before


def test_an_ending_subscription_moves_only_its_own_assigned_numbers(make_numbers, customer,
                                                                    make_subscription, ops_user,
                                                                    now):
    ending, staying = make_subscription(customer), make_subscription(customer)
    mine, theirs, held = make_numbers(3)
    assign([mine], ending, ops_user, now)
    assign([theirs], staying, ops_user, now)
    number_reserve(numbers=[held], organization=customer, actor=ops_user, remark="r", now=now)
    before = (world(theirs), world(held))
    result = subscription_set_status(subscription=ending, status="terminated", actor=ops_user,
                                     now=now)
    assert [n.pk for n in result.done] == [mine.pk]
    assert (world(theirs), world(held)) == before
