"""Extend (DESIGN §3): a free reservation becomes a charged one that lives as long as its DID
reservation subscription: never shorter than the free period, following renewals, and
ending when the subscription lapses."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState, ReservationKind, ReservationStatus
from inventory.models import Reservation
from inventory.services import (
    number_assign,
    number_extend,
    number_reserve,
    numbers_expire_due,
)
from subscriptions.services import subscription_renew, subscription_set_status
from tests.inventory.svc_helpers import DAY, fresh, history, world

S = NumberState


@pytest.fixture
def did(customer, make_subscription, now):
    return make_subscription(customer, kind="did_reservation", period_end=now + 90 * DAY)


@pytest.fixture
def reserved(make_numbers, customer, ops_user, now):
    numbers = make_numbers(2)
    number_reserve(numbers=numbers, organization=customer, actor=ops_user, remark="hold", now=now)
    return numbers


def active(number) -> Reservation:
    return Reservation.objects.get(number=number, status=ReservationStatus.ACTIVE)


def test_extend_makes_a_charged_reservation_until_the_period_end(reserved, did, customer, ops_user,
                                                                 now):
    later = now + 2 * DAY
    result = number_extend(numbers=reserved, did_reservation=did, actor=ops_user,
                           remark="customer pays", now=later)
    assert len(result.done) == 2
    for number in reserved:
        n = fresh(number)
        assert (n.state, n.organization, n.expires_at) == (S.RESERVED, customer, now + 90 * DAY)
        free, charged = Reservation.objects.filter(number=n).order_by("id")
        assert (free.kind, free.status, free.closed_at) == (
            ReservationKind.MANUAL, ReservationStatus.EXTENDED, later)
        assert (charged.kind, charged.status, charged.did_reservation, charged.organization) == (
            ReservationKind.CHARGED, ReservationStatus.ACTIVE, did, customer)
        assert (charged.starts_at, charged.ends_at, charged.remark, charged.created_by) == (
            later, now + 90 * DAY, "customer pays", ops_user)
        assert history(n)[-1].history_change_reason == "customer pays"


def test_extend_never_ends_before_the_free_period(reserved, customer, make_subscription, ops_user,
                                                  now):
    short = make_subscription(customer, kind="did_reservation", period_end=now + 10 * DAY)
    number_extend(numbers=reserved[:1], did_reservation=short, actor=ops_user, now=now)
    assert fresh(reserved[0]).expires_at == now + 28 * DAY
    assert active(reserved[0]).ends_at == now + 28 * DAY


def test_extend_without_remark_uses_a_default(reserved, did, ops_user, now):
    number_extend(numbers=reserved[:1], did_reservation=did, actor=ops_user, now=now)
    assert history(reserved[0])[-1].history_change_reason


def test_extend_twice_is_harmless(reserved, did, ops_user, now):
    number_extend(numbers=reserved[:1], did_reservation=did, actor=ops_user, now=now)
    before = world(reserved[0])
    result = number_extend(numbers=reserved[:1], did_reservation=did, actor=ops_user, now=now + DAY)
    assert (result.done, result.rejected) == ([], {})
    assert [n.pk for n in result.unchanged] == [reserved[0].pk]
    assert world(reserved[0]) == before


def test_extend_by_another_organization_is_refused(reserved, other_customer, make_subscription,
                                                   ops_user, now):
    theirs = make_subscription(other_customer, kind="did_reservation", period_end=now + 90 * DAY)
    before = world(reserved[0])
    result = number_extend(numbers=reserved[:1], did_reservation=theirs, actor=ops_user, now=now)
    assert result.rejected == {reserved[0].e164: (
        "reserved by Beta Customer; the DID reservation subscription belongs to Gamma Customer")}
    assert world(reserved[0]) == before


def test_a_renewal_moves_the_charged_end(reserved, did, ops_user, now):
    number_extend(numbers=reserved, did_reservation=did, actor=ops_user, now=now)
    changed = subscription_renew(subscription=did, current_period_end=now + 120 * DAY,
                                 actor=ops_user, now=now + 89 * DAY)
    assert changed == 2
    for number in reserved:
        assert fresh(number).expires_at == now + 120 * DAY
        assert active(number).ends_at == now + 120 * DAY
        assert history(number)[-1].history_change_reason == "DID reservation subscription renewed"
    # the old end passes: nothing expires
    assert numbers_expire_due(now=now + 100 * DAY) == 0
    assert fresh(reserved[0]).state == S.RESERVED


def test_a_renewal_never_shortens_and_a_repeat_changes_nothing(reserved, did, ops_user, now):
    number_extend(numbers=reserved[:1], did_reservation=did, actor=ops_user, now=now)
    before = world(reserved[0])
    assert subscription_renew(subscription=did, current_period_end=now + 60 * DAY,
                              actor=ops_user, now=now) == 0
    assert subscription_renew(subscription=did, current_period_end=now + 90 * DAY,
                              actor=ops_user, now=now) == 0
    assert world(reserved[0]) == before


def test_a_lapse_ends_the_charged_reservation_and_the_sweep_releases(reserved, did, ops_user, now):
    number_extend(numbers=reserved, did_reservation=did, actor=ops_user, now=now)
    lapse = now + 30 * DAY
    subscription_set_status(subscription=did, status="expired", actor=ops_user, now=lapse)
    for number in reserved:
        n = fresh(number)
        assert (n.state, n.expires_at) == (S.RESERVED, lapse)
        assert active(n).ends_at == lapse
    assert numbers_expire_due(now=lapse) == 2
    for number in reserved:
        n = fresh(number)
        assert (n.state, n.organization, n.expires_at) == (S.AVAILABLE, None, None)
        charged = Reservation.objects.get(number=n, kind=ReservationKind.CHARGED)
        assert (charged.status, charged.closed_at) == (ReservationStatus.EXPIRED, lapse)


def test_a_lapse_leaves_numbers_already_assigned_alone(reserved, did, service, ops_user, now):
    number_extend(numbers=reserved, did_reservation=did, actor=ops_user, now=now)
    number_assign(numbers=reserved[:1], subscription=service, actor=ops_user, remark="go", now=now)
    assert Reservation.objects.get(number=reserved[0], kind=ReservationKind.CHARGED).status == (
        ReservationStatus.ASSIGNED)
    before = world(reserved[0])
    subscription_set_status(subscription=did, status="terminated", actor=ops_user, now=now + DAY)
    assert world(reserved[0]) == before
    assert fresh(reserved[1]).expires_at == now + DAY


def test_extend_refuses_numbers_not_reserved(make_numbers, did, ops_user, now):
    number = make_numbers(1)[0]
    before = world(number)
    result = number_extend(numbers=[number], did_reservation=did, actor=ops_user, now=now)
    assert result.rejected == {number.e164: "is available; extend needs reserved"}
    assert world(number) == before
