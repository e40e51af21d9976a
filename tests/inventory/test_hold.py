"""Hold and After Hold (JeraSoft; DESIGN §3): a suspended subscription's numbers wait in hold,
still its own and unreachable, come back on reactivation, and end in their after-hold state
when the hold days run out."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from inventory.choices import (
    AfterHoldState,
    DeleteReason,
    NumberState,
    PolicyCause,
    ReservationKind,
    ReservationStatus,
)
from inventory.models import Reservation
from inventory.services import (
    ServiceError,
    number_assign,
    number_next_available,
    number_recover,
    number_update_attributes,
    numbers_expire_due,
)
from subscriptions.services import subscription_set_status
from tests.inventory.svc_helpers import DAY, fresh, history, reservations, set_policy, world

S = NumberState
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def held(make_numbers, service, ops_user, now):
    """Two numbers assigned to `service`, which is then suspended."""
    numbers = make_numbers(2)
    assert len(number_assign(numbers=numbers, subscription=service, actor=ops_user, remark="live",
                             now=now).done) == 2
    result = subscription_set_status(subscription=service, status="suspended", actor=ops_user,
                                     now=now)
    assert sorted(n.pk for n in result.done) == [n.pk for n in numbers]
    return numbers


def test_suspending_holds_the_numbers_for_the_policy_days(held, service, customer, ops_user, now):
    for number in held:
        n = fresh(number)
        assert (n.state, n.subscription, n.organization, n.expires_at) == (
            S.HOLD, service, customer, now + 30 * DAY)
        assert n.routing_reachable is False
        last = history(n)[-1]
        assert (last.state, last.history_user, last.history_change_reason) == (
            S.HOLD, ops_user, f"subscription {service.uuid} suspended")
    assert not Reservation.objects.filter(number__in=held, status=ReservationStatus.ACTIVE).exists()


def test_reactivating_brings_the_held_numbers_back(held, service, customer, ops_user, now):
    later = now + 3 * DAY
    result = subscription_set_status(subscription=service, status="active", actor=ops_user,
                                     now=later)
    assert sorted(n.pk for n in result.done) == [n.pk for n in held]
    for number in held:
        n = fresh(number)
        assert (n.state, n.subscription, n.organization, n.expires_at, n.routing_reachable) == (
            S.ASSIGNED, service, customer, None, True)
        assert n.state_changed_at == later
    # nothing is left for the sweep
    assert numbers_expire_due(now=now + 60 * DAY) == 0
    assert fresh(held[0]).state == S.ASSIGNED


def test_a_held_number_cannot_be_taken_by_anyone_else(held, customer, make_subscription, ops_user,
                                                      now):
    other = make_subscription(customer)
    result = number_assign(numbers=held[:1], subscription=other, actor=ops_user, remark="x", now=now)
    assert result.rejected[held[0].e164] == "is hold; assign needs available or reserved"
    with pytest.raises(ServiceError, match="suspended, not active"):
        number_next_available(subscription=fresh(held[0]).subscription, actor=ops_user,
                              remark="x", now=now)


def test_a_suspended_subscription_ending_reserves_its_held_numbers(held, service, customer,
                                                                   ops_user, now):
    later = now + 2 * DAY
    subscription_set_status(subscription=service, status="terminated", actor=ops_user, now=later)
    for number in held:
        n = fresh(number)
        assert (n.state, n.subscription, n.organization, n.expires_at) == (
            S.RESERVED, None, customer, later + 28 * DAY)
        (r,) = reservations(n)
        assert (r["kind"], r["ends_at"]) == (ReservationKind.SUBSCRIPTION_TERMINATED, later + 28 * DAY)


def test_the_number_s_own_hold_days_win_over_the_policy(make_numbers, service, ops_user, now):
    short = make_numbers(1, hold_days=5)[0]
    default = make_numbers(1, start="+6560000100")[0]
    number_assign(numbers=[short, default], subscription=service, actor=ops_user, remark="a",
                  now=now)
    set_policy(PolicyCause.HOLD, 10)
    subscription_set_status(subscription=service, status="suspended", actor=ops_user, now=now)
    assert fresh(short).expires_at == now + 5 * DAY
    assert fresh(default).expires_at == now + 10 * DAY


def test_hold_ends_reserved_for_the_organization_by_default(held, customer, now):
    end = now + 30 * DAY
    before = world(held[0])
    assert numbers_expire_due(now=end - SECOND) == 0
    assert world(held[0]) == before
    assert numbers_expire_due(now=end) == 2
    n = fresh(held[0])
    assert (n.state, n.subscription, n.organization, n.expires_at, n.state_changed_at) == (
        S.RESERVED, None, customer, end + 56 * DAY, end)
    (r,) = reservations(n)
    assert (r["kind"], r["organization_id"], r["starts_at"], r["ends_at"], r["status"]) == (
        ReservationKind.SUBSCRIPTION_EXPIRED, customer.pk, end, end + 56 * DAY,
        ReservationStatus.ACTIVE)
    assert history(n)[-1].history_change_reason == "hold ended"
    assert numbers_expire_due(now=end) == 0  # a rerun changes nothing


@pytest.mark.parametrize(("after", "state", "reason"), [
    (AfterHoldState.AVAILABLE, S.AVAILABLE, ""),
    (AfterHoldState.DELETED, S.DELETED, DeleteReason.ARCHIVED),
])
def test_hold_ends_in_the_number_s_after_hold_state(after, state, reason, make_numbers, service,
                                                    ops_user, now):
    number = make_numbers(1, after_hold_state=after)[0]
    number_assign(numbers=[number], subscription=service, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=service, status="suspended", actor=ops_user, now=now)
    assert numbers_expire_due(now=now + 30 * DAY) == 1
    n = fresh(number)
    assert (n.state, n.subscription, n.organization, n.expires_at, n.delete_reason) == (
        state, None, None, None, reason)
    assert reservations(n) == []
    if state == S.DELETED:  # archived is recoverable
        assert number_recover(numbers=[n], actor=ops_user, remark="back", now=now + 31 * DAY).done
        assert fresh(n).state == S.AVAILABLE


def test_after_hold_and_hold_days_are_mass_editable_and_checked(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    assert fresh(number).after_hold_state == AfterHoldState.RESERVED
    number_update_attributes(numbers=[number], changes={"after_hold_state": "Available",
                                                        "hold_days": "7"},
                             actor=ops_user, remark="package rule", now=now)
    n = fresh(number)
    assert (n.after_hold_state, n.hold_days) == (AfterHoldState.AVAILABLE, 7)
    before = world(number)
    with pytest.raises(ServiceError, match="After hold must be one of"):
        number_update_attributes(numbers=[number], changes={"after_hold_state": "cooling"},
                                 actor=ops_user, remark="x", now=now)
    with pytest.raises(ServiceError, match="Hold days must be a whole number"):
        number_update_attributes(numbers=[number], changes={"hold_days": "a week"},
                                 actor=ops_user, remark="x", now=now)
    assert world(number) == before


def test_the_allowance_counts_held_numbers(make_numbers, customer, make_subscription, ops_user,
                                           now):
    sub = make_subscription(customer, allowance=1)
    first, second = make_numbers(2)
    number_assign(numbers=[first], subscription=sub, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=sub, status="suspended", actor=ops_user, now=now)
    subscription_set_status(subscription=sub, status="active", actor=ops_user, now=now)
    subscription_set_status(subscription=sub, status="suspended", actor=ops_user, now=now)
    subscription_set_status(subscription=sub, status="active", actor=ops_user, now=now)
    result = number_assign(numbers=[second], subscription=sub, actor=ops_user, remark="a", now=now)
    assert result.rejected[second.e164] == "allowance of 1 numbers reached"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_suspend_racing_an_assign_never_leaves_a_number_assigned_to_a_suspended_subscription(
        make_numbers, service, ops_user, now):
    """Suspend locks the subscription first (lock order step 1), so an assign into it either
    commits before (its number is then held) or is refused after (not active)."""
    numbers = make_numbers(40)
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def assign() -> None:
        try:
            barrier.wait(5)
            outcome["assign"] = number_assign(numbers=numbers, subscription=service,
                                              actor=ops_user, remark="a", now=now)
        except ServiceError as exc:
            outcome["assign"] = exc
        finally:
            connection.close()

    def suspend() -> None:
        try:
            barrier.wait(5)
            outcome["suspend"] = subscription_set_status(subscription=service, status="suspended",
                                                         actor=ops_user, now=now)
        finally:
            connection.close()

    threads = [threading.Thread(target=assign), threading.Thread(target=suspend)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    states = {fresh(n).state for n in numbers}
    if isinstance(outcome["assign"], ServiceError):
        assert states == {S.AVAILABLE}
    else:
        assert states == {S.HOLD}


def test_exports_say_a_held_number_s_routing_is_unreachable(held, make_numbers, now):
    import csv
    import io

    from inventory.exports import csv_chunks
    from inventory.models import PhoneNumber

    free = make_numbers(1, start="+6560000100")[0]
    data = b"".join(csv_chunks(PhoneNumber.objects.filter(pk__in=[held[0].pk, free.pk])))
    rows = {r["number"]: r for r in csv.DictReader(io.StringIO(data.decode().lstrip("\ufeff")))}
    assert (rows[held[0].e164]["state"], rows[held[0].e164]["routing_reachable"]) == (S.HOLD, "no")
    assert rows[free.e164]["routing_reachable"] == "yes"
