"""Every row of the transition table (DESIGN §3): each action from each state either does
what the table says, is a harmless no-op, or is refused with a reason and changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.choices import (
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
    number_delete,
    number_extend,
    number_lock,
    number_recover,
    number_release,
    number_reserve,
    number_unlock,
)
from tests.inventory.svc_helpers import (
    DAY,
    fresh,
    history,
    put_in_state,
    reservations,
    set_policy,
    world,
)

S = NumberState
STATES = [s.value for s in NumberState]

# What each action does from each state; every state not listed is refused.
EXPECTED: dict[str, dict[str, str]] = {
    "reserve": {S.AVAILABLE: "done", S.RESERVED: "unchanged"},
    "lock": {S.AVAILABLE: "done", S.LOCKED: "unchanged"},
    "unlock": {S.LOCKED: "done", S.AVAILABLE: "unchanged"},
    "assign": {S.AVAILABLE: "done", S.RESERVED: "done", S.ASSIGNED: "unchanged"},
    # A cooling number has already been released: a second release is a no-op, not an error.
    "release": {S.RESERVED: "done", S.AVAILABLE: "unchanged", S.COOLING: "unchanged"},
    "extend": {S.RESERVED: "done"},
    "delete": {S.AVAILABLE: "done", S.LOCKED: "done", S.DELETED: "unchanged"},
    "recover": {S.DELETED: "done", S.AVAILABLE: "unchanged"},
}
TARGET = {
    "reserve": S.RESERVED, "lock": S.LOCKED, "unlock": S.AVAILABLE, "assign": S.ASSIGNED,
    "release": S.AVAILABLE, "extend": S.RESERVED, "delete": S.DELETED, "recover": S.AVAILABLE,
}


@pytest.fixture
def did(customer, make_subscription, now):
    return make_subscription(customer, kind="did_reservation", period_end=now + 90 * DAY)


def run(action: str, number, *, customer, service, did, actor, now):
    kw = {"numbers": [number], "actor": actor, "now": now}
    if action == "reserve":
        return number_reserve(organization=customer, remark="hold for Beta", **kw)
    if action == "lock":
        return number_lock(remark="porting check", **kw)
    if action == "unlock":
        return number_unlock(remark="check done", **kw)
    if action == "assign":
        return number_assign(subscription=service, remark="go live", **kw)
    if action == "release":
        return number_release(remark="not needed", **kw)
    if action == "extend":
        return number_extend(did_reservation=did, remark="keep it", **kw)
    if action == "delete":
        return number_delete(reason=DeleteReason.PORTED_OUT, remark="ported away", **kw)
    if action == "recover":
        return number_recover(remark="back from vendor", **kw)
    raise AssertionError(action)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", list(EXPECTED))
def test_every_action_from_every_state(action, state, make_numbers, customer, service, did,
                                       ops_user, now):
    number = put_in_state(make_numbers(1)[0], state, organization=customer,
                          subscription=service, actor=ops_user, now=now)
    before = world(number)
    later = now + dt.timedelta(hours=1)
    result = run(action, number, customer=customer, service=service, did=did, actor=ops_user,
                 now=later)
    outcome = EXPECTED[action].get(state, "refused")

    if outcome == "refused":
        assert not result.done and not result.unchanged
        reason = result.rejected[number.e164]
        assert f"is {state}" in reason, reason
        assert world(number) == before, "a refusal must change nothing"
    elif outcome == "unchanged":
        assert not result.done and not result.rejected
        assert [n.pk for n in result.unchanged] == [number.pk]
        assert world(number) == before, "a repeat must change nothing"
    else:
        assert not result.rejected and [n.pk for n in result.done] == [number.pk]
        after = fresh(number)
        assert after.state == TARGET[action]
        rows = history(number)
        assert len(rows) == before[1] + 1
        assert rows[-1].state == TARGET[action]
        if after.state != state:
            assert after.state_changed_at == later
    assert result.summary().startswith(f"{len(result.done)} done, {len(result.rejected)} refused")


# --- what each allowed move does ------------------------------------------------------


def test_reserve_sets_owner_period_and_opens_a_manual_reservation(make_numbers, customer, ops_user,
                                                                  now):
    number = make_numbers(1)[0]
    result = number_reserve(numbers=[number], organization=customer, actor=ops_user,
                            remark="hold for Beta", reserved_for="alice", now=now)
    assert [n.e164 for n in result.done] == [number.e164]
    n = fresh(number)
    assert (n.state, n.organization, n.subscription, n.reserved_for) == (
        S.RESERVED, customer, None, "alice")
    assert n.expires_at == now + 28 * DAY
    (r,) = Reservation.objects.filter(number=n)
    assert (r.kind, r.status, r.organization, r.starts_at, r.ends_at) == (
        ReservationKind.MANUAL, ReservationStatus.ACTIVE, customer, now, now + 28 * DAY)
    assert (r.reserver_name, r.notice_email, r.reserved_for) == (
        "Beta Customer", "billing@beta.example", "alice")
    assert (r.remark, r.created_by) == ("hold for Beta", ops_user)


def test_reserve_by_a_partner_snapshots_the_owner_email(make_numbers, partner, ops_user, now):
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=partner, actor=ops_user, remark="r", now=now)
    (r,) = Reservation.objects.filter(number=number)
    assert (r.organization, r.notice_email) == (partner, "owner@acme.example")


def test_reserve_of_a_number_another_organization_holds_is_refused(make_numbers, customer,
                                                                   other_customer, ops_user, now):
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    before = world(number)
    result = number_reserve(numbers=[number], organization=other_customer, actor=ops_user,
                            remark="mine", now=now)
    assert result.rejected == {number.e164: "already reserved by Beta Customer"}
    assert world(number) == before


def test_reserve_without_an_organization_is_refused(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    with pytest.raises(ServiceError):
        number_reserve(numbers=[number], organization=None, actor=ops_user, remark="r", now=now)
    assert fresh(number).state == S.AVAILABLE


def test_lock_opens_a_lock_without_organization(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    number_lock(numbers=[number], actor=ops_user, remark="porting check", now=now)
    n = fresh(number)
    assert (n.state, n.expires_at, n.organization) == (S.LOCKED, now + 28 * DAY, None)
    (r,) = Reservation.objects.filter(number=n)
    assert (r.kind, r.status, r.organization, r.ends_at, r.remark) == (
        ReservationKind.LOCK, ReservationStatus.ACTIVE, None, now + 28 * DAY, "porting check")


def test_unlock_ends_the_lock_as_released(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    number_lock(numbers=[number], actor=ops_user, remark="l", now=now)
    later = now + 2 * DAY
    number_unlock(numbers=[number], actor=ops_user, remark="check done", now=later)
    n = fresh(number)
    assert (n.state, n.expires_at) == (S.AVAILABLE, None)
    (r,) = Reservation.objects.filter(number=n)
    assert (r.status, r.closed_at) == (ReservationStatus.RELEASED, later)


def test_assign_an_available_number(make_numbers, customer, service, ops_user, now):
    number = make_numbers(1)[0]
    number_assign(numbers=[number], subscription=service, actor=ops_user, remark="go", now=now)
    n = fresh(number)
    assert (n.state, n.subscription, n.organization, n.expires_at) == (
        S.ASSIGNED, service, customer, None)
    assert not Reservation.objects.filter(number=n).exists()


def test_assign_a_reserved_number_closes_its_reservation_as_assigned(make_numbers, customer, service,
                                                                    ops_user, now):
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    number_assign(numbers=[number], subscription=service, actor=ops_user, remark="go",
                  now=now + DAY)
    n = fresh(number)
    assert (n.state, n.subscription, n.organization, n.expires_at) == (
        S.ASSIGNED, service, customer, None)
    (r,) = reservations(n)
    assert (r["status"], r["closed_at"]) == (ReservationStatus.ASSIGNED, now + DAY)


def test_assign_of_a_number_held_by_another_subscription_is_refused(make_numbers, customer, service,
                                                                    make_subscription, ops_user,
                                                                    now):
    number = make_numbers(1)[0]
    number_assign(numbers=[number], subscription=service, actor=ops_user, remark="go", now=now)
    before = world(number)
    second = make_subscription(customer)
    result = number_assign(numbers=[number], subscription=second, actor=ops_user, remark="go",
                           now=now)
    assert "is assigned" in result.rejected[number.e164]
    assert world(number) == before


def test_release_returns_the_number_and_forgets_the_holder(make_numbers, customer, ops_user, now):
    """The organization goes; the user it is kept for stays (VOSS: until cleared)."""
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r",
                   reserved_for="alice", now=now)
    number_release(numbers=[number], actor=ops_user, remark="not needed", now=now + DAY)
    n = fresh(number)
    assert (n.state, n.expires_at, n.organization, n.reserved_for, n.after_cooling_state) == (
        S.AVAILABLE, None, None, "alice", "")
    (r,) = reservations(n)
    assert (r["status"], r["closed_at"]) == (ReservationStatus.RELEASED, now + DAY)


def test_release_with_cooling_goes_through_cooling_then_back(make_numbers, customer, ops_user, now):
    from inventory.services import numbers_expire_due

    set_policy(PolicyCause.COOLING, 5)
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    number_release(numbers=[number], actor=ops_user, remark="not needed", now=now)
    n = fresh(number)
    assert (n.state, n.expires_at, n.after_cooling_state, n.organization) == (
        S.COOLING, now + 5 * DAY, S.AVAILABLE, None)
    assert numbers_expire_due(now=now + 5 * DAY - dt.timedelta(seconds=1)) == 0
    assert numbers_expire_due(now=now + 5 * DAY) == 1
    n = fresh(number)
    assert (n.state, n.expires_at, n.after_cooling_state) == (S.AVAILABLE, None, "")


def test_delete_records_the_reason_and_clears_the_end(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    number_delete(numbers=[number], reason=DeleteReason.RETURNED_TO_VENDOR, actor=ops_user,
                  remark="contract ended", now=now)
    n = fresh(number)
    assert (n.state, n.delete_reason, n.expires_at) == (S.DELETED, "returned_to_vendor", None)


def test_delete_of_a_locked_number_ends_its_lock(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    number_lock(numbers=[number], actor=ops_user, remark="l", now=now)
    number_delete(numbers=[number], reason=DeleteReason.FAULTY, actor=ops_user, remark="broken",
                  now=now + DAY)
    n = fresh(number)
    assert (n.state, n.delete_reason, n.expires_at) == (S.DELETED, "faulty", None)
    (r,) = reservations(n)
    assert (r["kind"], r["status"], r["closed_at"]) == (
        ReservationKind.LOCK, ReservationStatus.RELEASED, now + DAY)


@pytest.mark.parametrize("reason", ["", "lost", None])
def test_delete_needs_a_known_reason(reason, make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    before = world(number)
    with pytest.raises(ServiceError, match="delete reason"):
        number_delete(numbers=[number], reason=reason, actor=ops_user, remark="x", now=now)
    assert world(number) == before


@pytest.mark.parametrize("reason", DeleteReason.values)
def test_delete_accepts_every_reason(reason, make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    assert number_delete(numbers=[number], reason=reason, actor=ops_user, remark="x", now=now).done
    assert fresh(number).delete_reason == reason


def test_recover_clears_the_delete_reason(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    number_delete(numbers=[number], reason=DeleteReason.OTHER, actor=ops_user, remark="x", now=now)
    number_recover(numbers=[number], actor=ops_user, remark="back", now=now + DAY)
    n = fresh(number)
    assert (n.state, n.delete_reason, n.expires_at, n.state_changed_at) == (
        S.AVAILABLE, "", None, now + DAY)


def test_a_bulk_call_does_the_allowed_and_refuses_the_rest(make_numbers, customer, ops_user, now):
    numbers = make_numbers(4)
    number_lock(numbers=numbers[:1], actor=ops_user, remark="l", now=now)
    before = world(numbers[0])
    result = number_reserve(numbers=numbers, organization=customer, actor=ops_user, remark="r",
                            now=now)
    assert sorted(n.e164 for n in result.done) == [n.e164 for n in numbers[1:]]
    assert result.rejected == {numbers[0].e164: "is locked; reserve needs available"}
    assert result.summary() == "3 done, 1 refused"
    assert world(numbers[0]) == before
    assert Reservation.objects.filter(status=ReservationStatus.ACTIVE,
                                      kind=ReservationKind.MANUAL).count() == 3


def test_numbers_can_be_given_as_a_queryset_or_as_e164_strings(make_numbers, customer, ops_user,
                                                               now):
    from inventory.models import PhoneNumber

    numbers = make_numbers(3)
    r1 = number_lock(numbers=PhoneNumber.objects.filter(pk=numbers[0].pk), actor=ops_user,
                     remark="l", now=now)
    r2 = number_lock(numbers=[numbers[1].e164], actor=ops_user, remark="l", now=now)
    assert [n.pk for n in r1.done] == [numbers[0].pk]
    assert [n.pk for n in r2.done] == [numbers[1].pk]
    assert fresh(numbers[2]).state == S.AVAILABLE


def test_a_built_reservation_is_the_keyword_built_one_with_its_relations_loaded(
        make_numbers, customer, ops_user, now, django_assert_num_queries):
    """reservation_build sets fields positionally (speed); the row and the loaded related
    objects must be what Reservation(**fields) gives, so nothing reads them again."""
    from inventory.services.results import reservation_build
    from subscriptions.models import Subscription

    number = make_numbers(1)[0]
    did = Subscription(pk=7, organization=customer)
    built = reservation_build(number, kind=ReservationKind.CHARGED, ends_at=now + DAY, now=now,
                              remark="r", actor=ops_user, organization=customer,
                              reserved_for="alice", did_reservation=did)
    keyword = Reservation(number=number, kind=ReservationKind.CHARGED, organization=customer,
                          reserver_name=customer.name, notice_email=customer.notice_email,
                          reserved_for="alice", starts_at=now, ends_at=now + DAY,
                          did_reservation=did, status=ReservationStatus.ACTIVE, remark="r",
                          created_by=ops_user)
    fields = [f.attname for f in Reservation._meta.concrete_fields]
    assert [getattr(built, f) for f in fields] == [getattr(keyword, f) for f in fields]
    with django_assert_num_queries(0):
        assert (built.number, built.organization, built.did_reservation, built.created_by) == (
            number, customer, did, ops_user)
