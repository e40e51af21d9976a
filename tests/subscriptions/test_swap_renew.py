"""B3's renewals, swaps and ported-in periods through the services (DESIGN §3–4)."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState, ReservationKind, ReservationStatus
from inventory.models import Reservation
from inventory.services import (
    ServiceError,
    number_assign,
    number_extend,
    number_reserve,
    number_set_reserved_for,
    numbers_expire_due,
)
from subscriptions.services import (
    subscription_renew,
    subscription_set_status,
    subscription_swap_number,
)
from tests.inventory.svc_helpers import DAY, fresh, world

S = NumberState


def test_swap_refuses_a_replacement_kept_for_another_subscriber(make_numbers, customer,
                                                                make_subscription, ops_user, now):
    sub = make_subscription(customer, subscriber="alice")
    old, bobs = make_numbers(2)
    number_assign(numbers=[old], subscription=sub, actor=ops_user, remark="a", now=now)
    number_set_reserved_for(numbers=[bobs], reserved_for="bob", actor=ops_user, remark="k", now=now)
    before = world(old), world(bobs)
    with pytest.raises(ServiceError, match="reserved for bob; the subscription's subscriber is alice"):
        subscription_swap_number(subscription=sub, old=old, new=bobs, actor=ops_user,
                                 remark="swap", now=now)
    assert (world(old), world(bobs)) == before


@pytest.mark.parametrize(("ported_in", "days"), [(False, 1), (True, 28)])
def test_the_swapped_out_number_is_reserved_1_day_or_28_when_ported_in(ported_in, days,
                                                                       make_numbers, customer,
                                                                       service, ops_user, now):
    old = make_numbers(1, is_ported_in=ported_in)[0]
    new = make_numbers(1, start="+6560000100")[0]
    number_assign(numbers=[old], subscription=service, actor=ops_user, remark="a", now=now)
    subscription_swap_number(subscription=service, old=old, new=new, actor=ops_user,
                             remark="customer asked", now=now)
    o = fresh(old)
    assert (o.state, o.organization, o.expires_at) == (S.RESERVED, customer, now + days * DAY)
    r = Reservation.objects.get(number=old, status=ReservationStatus.ACTIVE)
    assert (r.kind, r.ends_at) == (ReservationKind.SWAPPED_OUT, now + days * DAY)
    assert (fresh(new).state, fresh(new).subscription) == (S.ASSIGNED, service)


@pytest.mark.parametrize(("status", "days"), [("expired", 84), ("terminated", 56)])
def test_ported_in_numbers_have_b3_s_periods(status, days, make_numbers, customer, service,
                                             ops_user, now):
    manual, assigned = make_numbers(2, is_ported_in=True)
    number_reserve(numbers=[manual], organization=customer, actor=ops_user, remark="r", now=now)
    assert fresh(manual).expires_at == now + 28 * DAY
    number_assign(numbers=[assigned], subscription=service, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=service, status=status, actor=ops_user, now=now)
    assert fresh(assigned).expires_at == now + days * DAY


def test_a_renewed_did_reservation_keeps_its_number_past_the_old_end(make_numbers, customer,
                                                                     make_subscription, ops_user,
                                                                     now):
    did = make_subscription(customer, kind="did_reservation", period_end=now + 40 * DAY)
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    number_extend(numbers=[number], did_reservation=did, actor=ops_user, now=now)
    assert fresh(number).expires_at == now + 40 * DAY
    assert subscription_renew(subscription=did, current_period_end=now + 70 * DAY,
                              actor=ops_user, now=now + 35 * DAY) == 1
    charged = Reservation.objects.get(number=number, status=ReservationStatus.ACTIVE)
    assert (charged.kind, charged.ends_at) == (ReservationKind.CHARGED, now + 70 * DAY)
    numbers_expire_due(now=now + 41 * DAY)  # the old end has passed: nothing happens
    assert (fresh(number).state, fresh(number).expires_at) == (S.RESERVED, now + 70 * DAY)
    numbers_expire_due(now=now + 70 * DAY)
    assert fresh(number).state == S.AVAILABLE
    last = did.history.latest()
    assert (last.history_user, last.current_period_end) == (ops_user, now + 70 * DAY)


def test_suspending_a_did_reservation_leaves_its_charged_reservations(make_numbers, customer,
                                                                      make_subscription, ops_user,
                                                                      now):
    did = make_subscription(customer, kind="did_reservation", period_end=now + 40 * DAY)
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    number_extend(numbers=[number], did_reservation=did, actor=ops_user, now=now)
    before = world(number)
    subscription_set_status(subscription=did, status="suspended", actor=ops_user, now=now)
    assert world(number) == before
