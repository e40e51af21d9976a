"""numbers_expire_due (DESIGN §3, expire): reservations, locks and cooling periods past their
end come back; nothing else moves; legacy permanent locks stay; reruns do nothing."""

from __future__ import annotations

import datetime as dt

from inventory.choices import NumberState, PolicyCause, ReservationKind, ReservationStatus
from inventory.models import Reservation
from inventory.services import (
    number_assign,
    number_delete,
    number_lock,
    number_release,
    number_reserve,
    numbers_expire_due,
    system_user,
)
from notifications.models import Notice
from tests.inventory.svc_helpers import DAY, fresh, history, put_in_state, set_policy, world

S = NumberState
SECOND = dt.timedelta(seconds=1)
EXPIRED_REASONS = {"reservation expired", "lock expired", "cooling ended"}


def test_a_reservation_expires_at_its_end_not_before(make_numbers, customer, ops_user, now):
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r",
                   reserved_for="alice", now=now)
    end = now + 28 * DAY
    before = world(number)
    assert numbers_expire_due(now=end - SECOND) == 0
    assert world(number) == before
    assert numbers_expire_due(now=end) == 1
    n = fresh(number)
    assert (n.state, n.expires_at, n.organization, n.reserved_for, n.state_changed_at) == (
        S.AVAILABLE, None, None, "alice", end)  # the reserved-for flag outlives the reservation
    (r,) = Reservation.objects.filter(number=n)
    assert (r.kind, r.status, r.closed_at) == (ReservationKind.MANUAL, ReservationStatus.EXPIRED,
                                               end)
    last = history(n)[-1]
    assert (last.history_user, last.history_change_reason) == (system_user(), "reservation expired")


def test_a_lock_expires_and_a_lock_expired_notice_is_written(make_numbers, partner, ops_user, now):
    number = make_numbers(1, visible_to=partner)[0]
    number_lock(numbers=[number], actor=ops_user, remark="l", now=now)
    assert numbers_expire_due(now=now + 30 * DAY) == 1
    n = fresh(number)
    assert (n.state, n.expires_at) == (S.AVAILABLE, None)
    (r,) = Reservation.objects.filter(number=n)
    assert (r.kind, r.status) == (ReservationKind.LOCK, ReservationStatus.EXPIRED)
    assert history(n)[-1].history_change_reason == "lock expired"
    (notice,) = Notice.objects.filter(number=n)
    assert (notice.kind, notice.reservation) == ("lock_expired", r)
    assert "support@acme.example" in notice.recipients


def test_cooling_ends_in_its_after_cooling_state(make_numbers, customer, ops_user, now):
    set_policy(PolicyCause.COOLING, 1)
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r", now=now)
    number_release(numbers=[number], actor=ops_user, remark="x", now=now)
    assert numbers_expire_due(now=now + DAY) == 1
    n = fresh(number)
    assert (n.state, n.expires_at, n.after_cooling_state) == (S.AVAILABLE, None, "")
    assert history(n)[-1].history_change_reason == "cooling ended"


def test_nothing_else_moves(make_numbers, customer, service, ops_user, now):
    numbers = make_numbers(4)
    for n, state in zip(numbers, [S.AVAILABLE, S.ASSIGNED, S.DELETED, S.LOCKED], strict=True):
        put_in_state(n, state, organization=customer, subscription=service, actor=ops_user, now=now)
    assert numbers_expire_due(now=now + 10 * DAY) == 0
    snapshot = [world(n) for n in numbers]
    assert numbers_expire_due(now=now + 10 * 365 * DAY) == 1  # only the lock
    assert [world(n) for n in numbers[:3]] == snapshot[:3]


def test_a_mixed_sweep_in_small_batches_and_a_rerun(make_numbers, customer, ops_user, now):
    set_policy(PolicyCause.COOLING, 2)
    reserved = make_numbers(7, start="+6560000000")
    locked = make_numbers(5, start="+6560000100")
    cooling = make_numbers(3, start="+6560000200")
    number_reserve(numbers=reserved + cooling, organization=customer, actor=ops_user, remark="r",
                   now=now)
    number_release(numbers=cooling, actor=ops_user, remark="x", now=now)
    number_lock(numbers=locked, actor=ops_user, remark="l", now=now)
    assert numbers_expire_due(now=now + 28 * DAY, batch_size=4) == 15
    assert [fresh(n).state for n in reserved] == [S.COOLING] * 7
    assert [fresh(n).state for n in locked + cooling] == [S.AVAILABLE] * 8
    assert numbers_expire_due(now=now + 28 * DAY, batch_size=4) == 0
    for n in reserved + locked + cooling:
        swept = [h for h in history(n) if h.history_change_reason in EXPIRED_REASONS]
        assert len(swept) == 1 and swept[0].history_user == system_user()
    assert Notice.objects.filter(kind="lock_expired").count() == 5
    assert not Reservation.objects.filter(status=ReservationStatus.ACTIVE).exists()


def test_expiry_is_not_deleted_numbers_business(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    number_lock(numbers=[number], actor=ops_user, remark="l", now=now)
    number_delete(numbers=[number], reason="faulty", actor=ops_user, remark="d", now=now)
    assert numbers_expire_due(now=now + 60 * DAY) == 0
    assert fresh(number).state == S.DELETED


def test_a_reservation_returned_from_a_subscription_expires_too(make_numbers, customer, service,
                                                               ops_user, now):
    from subscriptions.services import subscription_set_status

    number = make_numbers(1)[0]
    number_assign(numbers=[number], subscription=service, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=service, status="expired", actor=ops_user, now=now)
    assert numbers_expire_due(now=now + 56 * DAY - SECOND) == 0
    assert numbers_expire_due(now=now + 56 * DAY) == 1
    n = fresh(number)
    assert (n.state, n.organization, n.subscription) == (S.AVAILABLE, None, None)
    assert Reservation.objects.get(number=n).status == ReservationStatus.EXPIRED
