"""ALLOWED_TRANSITIONS is authoritative: change a row (here, in the test) and the services
do what the changed row says, for the actions a person takes and the automatic ones."""

from __future__ import annotations

import pytest

from inventory.choices import (
    ALLOWED_TRANSITIONS,
    Action,
    DeleteReason,
    NumberState,
    PolicyCause,
    Transition,
    actions_from,
)
from inventory.models import Reservation
from inventory.services import (
    number_delete,
    number_lock,
    number_recover,
    number_release,
    number_reserve,
    numbers_expire_due,
    numbers_swap,
)
from subscriptions.services import subscription_set_status
from tests.inventory.svc_helpers import DAY, fresh, put_in_state, set_policy

pytestmark = pytest.mark.django_db
S = NumberState
A = Action


def change_row(monkeypatch, action: str, **changes) -> None:
    monkeypatch.setitem(ALLOWED_TRANSITIONS, action, ALLOWED_TRANSITIONS[action]._replace(**changes))


def test_a_new_source_lets_the_action_start_there(monkeypatch, make_numbers, customer, ops_user, now):
    number = put_in_state(make_numbers(1)[0], S.RESERVED, organization=customer, subscription=None,
                          actor=ops_user, now=now)
    refused = number_delete(numbers=[number], reason=DeleteReason.FAULTY, actor=ops_user,
                            remark="x", now=now)
    assert refused.rejected[number.e164] == "is reserved; delete needs available or locked"
    change_row(monkeypatch, A.DELETE, sources=frozenset({S.AVAILABLE, S.LOCKED, S.RESERVED}))
    assert number_delete(numbers=[number], reason=DeleteReason.FAULTY, actor=ops_user, remark="x",
                         now=now).done
    assert fresh(number).state == S.DELETED
    assert "delete" in actions_from(S.RESERVED)  # the admin's tabs read the same row


def test_a_removed_source_refuses_the_action(monkeypatch, make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    change_row(monkeypatch, A.LOCK, sources=frozenset())
    result = number_lock(numbers=[number], actor=ops_user, remark="x", now=now)
    assert number.e164 in result.rejected and fresh(number).state == S.AVAILABLE


def test_a_new_target_is_where_the_action_leads(monkeypatch, make_numbers, ops_user, now):
    number = put_in_state(make_numbers(1)[0], S.DELETED, organization=None, subscription=None,
                          actor=ops_user, now=now)
    change_row(monkeypatch, A.RECOVER, target=S.LOCKED)
    assert number_recover(numbers=[number], actor=ops_user, remark="x", now=now).done
    assert fresh(number).state == S.LOCKED


def test_release_goes_through_cooling_only_for_the_rows_sources(monkeypatch, make_numbers, customer,
                                                                 ops_user, now):
    set_policy(PolicyCause.COOLING, 2)
    first, second = (put_in_state(n, S.RESERVED, organization=customer, subscription=None,
                                  actor=ops_user, now=now) for n in make_numbers(2))
    number_release(numbers=[first], actor=ops_user, remark="x", now=now)
    assert fresh(first).state == S.COOLING
    change_row(monkeypatch, A.RELEASE, cooling=frozenset())
    number_release(numbers=[second], actor=ops_user, remark="x", now=now)
    assert fresh(second).state == S.AVAILABLE


def test_the_expiry_sweep_reads_its_row(monkeypatch, make_numbers, customer, ops_user, now):
    locked, reserved = make_numbers(2)
    number_lock(numbers=[locked], actor=ops_user, remark="x", now=now)
    number_reserve(numbers=[reserved], organization=customer, actor=ops_user, remark="x", now=now)
    change_row(monkeypatch, A.EXPIRE, sources=frozenset({S.RESERVED}), target=S.DELETED)
    assert numbers_expire_due(now=now + 100 * DAY) == 1
    assert (fresh(locked).state, fresh(reserved).state) == (S.LOCKED, S.DELETED)


def test_an_ended_subscription_and_a_swap_read_their_rows(monkeypatch, make_numbers, service,
                                                          ops_user, now):
    from inventory.services import number_assign

    kept, swapped, replacement = make_numbers(3)
    number_assign(numbers=[kept, swapped], subscription=service, actor=ops_user, remark="a", now=now)
    change_row(monkeypatch, A.SWAP_OUT, target=S.LOCKED)
    numbers_swap(subscription=service, old=swapped, new=replacement, actor=ops_user, remark="s",
                 now=now)
    assert (fresh(swapped).state, fresh(replacement).state) == (S.LOCKED, S.ASSIGNED)
    change_row(monkeypatch, A.SUBSCRIPTION_ENDED, sources=frozenset())
    subscription_set_status(subscription=service, status="terminated", actor=ops_user, now=now)
    assert {fresh(kept).state, fresh(replacement).state} == {S.ASSIGNED}


def test_every_row_names_a_target():
    """A target is a state, or "" for an action that leaves the state alone (set reserved-for);
    a per-number choice of target is a state too."""
    assert all(isinstance(rule, Transition) and rule.target in (*S.values, "")
               and rule.chosen <= set(S.values) for rule in ALLOWED_TRANSITIONS.values())
    assert [a for a, rule in ALLOWED_TRANSITIONS.items() if not rule.target] == [A.SET_RESERVED_FOR]


def test_a_lock_added_with_the_number_gets_its_notice(vendor, sku, ops_user, now):
    """number_add writes its lock rows like every other service: a lock that already ends
    within the notice lead time has its notice at once."""
    from inventory.services import number_add
    from notifications.models import Notice

    result = number_add(numbers="+6563000001", vendor=vendor, sku=sku, actor=ops_user,
                        state=S.LOCKED, remark="short lock", expires_at=now + 2 * DAY, now=now)
    (lock,) = Reservation.objects.filter(number__in=result.done)
    assert lock.created_by == ops_user
    assert Notice.objects.filter(reservation=lock, kind="lock_expiring").count() == 1


def test_each_change_keeps_its_before_and_after_for_the_events(make_numbers, customer, ops_user, now):
    number = make_numbers(1)[0]
    result = number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="r",
                            now=now)
    (change,) = result.changes
    assert (change.action, change.before["state"], change.after["state"]) == (
        A.RESERVE, S.AVAILABLE, S.RESERVED)
    assert (change.before["organization_id"], change.after["organization_id"]) == (None, customer.pk)
    assert change.after["expires_at"] == fresh(number).expires_at
