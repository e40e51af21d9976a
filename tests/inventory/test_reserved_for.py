"""Reserved for (VOSS; DESIGN §3): the flag is the number's own, survives every state change
until cleared, and while set only that subscriber's subscription may take the number."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from inventory.choices import ACTION_PERMISSIONS, Action, DeleteReason, NumberState
from inventory.services import (
    NoNumberAvailable,
    ServiceError,
    number_assign,
    number_delete,
    number_next_available,
    number_release,
    number_reserve,
    number_set_reserved_for,
    numbers_expire_due,
)
from subscriptions.services import subscription_set_status
from tests.inventory.svc_helpers import DAY, fresh, history, world

S = NumberState


def flag(numbers, username, actor, now):
    result = number_set_reserved_for(numbers=numbers, reserved_for=username, actor=actor,
                                     remark=f"kept for {username or 'nobody'}", now=now)
    assert not result.rejected, result.rejected
    return result


def test_set_and_clear_on_its_own_without_changing_the_state(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    result = flag([number], "alice", ops_user, now)
    assert [n.pk for n in result.done] == [number.pk]
    n = fresh(number)
    assert (n.state, n.reserved_for) == (S.AVAILABLE, "alice")
    last = history(n)[-1]
    assert (last.reserved_for, last.history_user, last.history_change_reason) == (
        "alice", ops_user, "kept for alice")
    before = world(number)
    again = flag([number], "alice", ops_user, now)  # a double click changes nothing
    assert (again.done, [u.pk for u in again.unchanged]) == ([], [number.pk])
    assert world(number) == before
    flag([number], "", ops_user, now)
    assert fresh(number).reserved_for == ""


def test_set_reserved_for_refuses_a_deleted_number_and_needs_a_remark(make_numbers, ops_user, now):
    number = make_numbers(1)[0]
    number_delete(numbers=[number], reason=DeleteReason.FAULTY, actor=ops_user, remark="d", now=now)
    before = world(number)
    result = number_set_reserved_for(numbers=[number], reserved_for="alice", actor=ops_user,
                                     remark="x", now=now)
    assert result.rejected[number.e164].startswith("is deleted; set reserved-for needs ")
    with pytest.raises(ServiceError, match="remark is required"):
        number_set_reserved_for(numbers=[number], reserved_for="alice", actor=ops_user, remark=" ")
    assert world(number) == before


def test_its_permission_is_in_the_one_table_and_ops_has_it(db):
    codename, _ = ACTION_PERMISSIONS[Action.SET_RESERVED_FOR]
    assert codename == "set_reserved_for_number"
    assert Group.objects.get(name="Ops").permissions.filter(codename=codename).exists()


def test_the_flag_survives_expiry_release_and_termination(make_numbers, customer,
                                                          make_subscription, ops_user, now):
    expiring, released, terminated = make_numbers(3)
    sub = make_subscription(customer, subscriber="alice")
    number_reserve(numbers=[expiring, released], organization=customer, reserved_for="alice",
                   actor=ops_user, remark="r", now=now)
    number_release(numbers=[released], actor=ops_user, remark="not needed", now=now)
    flag([terminated], "alice", ops_user, now)
    number_assign(numbers=[terminated], subscription=sub, actor=ops_user, remark="a", now=now)
    subscription_set_status(subscription=sub, status="terminated", actor=ops_user, now=now)
    assert (fresh(terminated).state, fresh(terminated).reserved_for) == (S.RESERVED, "alice")
    numbers_expire_due(now=now + 28 * DAY)  # the reservation and the terminated one end
    for number in (expiring, released, terminated):
        n = fresh(number)
        assert (n.state, n.organization, n.reserved_for) == (S.AVAILABLE, None, "alice")


def test_an_available_flagged_number_goes_only_to_that_subscriber(make_numbers, customer,
                                                                  make_subscription, ops_user,
                                                                  now):
    number = make_numbers(1)[0]
    flag([number], "alice", ops_user, now)
    for other in (make_subscription(customer, subscriber="bob"), make_subscription(customer)):
        before = world(number)
        result = number_assign(numbers=[number], subscription=other, actor=ops_user, remark="x",
                               now=now)
        assert result.rejected[number.e164].startswith("reserved for alice; the subscription's "
                                                       "subscriber is ")
        assert world(number) == before
    alice = make_subscription(customer, subscriber="alice")
    assert number_assign(numbers=[number], subscription=alice, actor=ops_user, remark="a",
                         now=now).done


def test_reserve_keeps_the_flag_and_refuses_another_user(make_numbers, customer, ops_user, now):
    kept, other = make_numbers(2)
    flag([kept, other], "alice", ops_user, now)
    number_reserve(numbers=[kept], organization=customer, actor=ops_user, remark="r", now=now)
    assert fresh(kept).reserved_for == "alice"
    before = world(other)
    result = number_reserve(numbers=[other], organization=customer, reserved_for="bob",
                            actor=ops_user, remark="r", now=now)
    assert result.rejected[other.e164] == ("reserved for alice; change that with set "
                                           "reserved-for first")
    assert world(other) == before


def test_next_available_offers_the_subscriber_s_own_numbers_first(make_numbers, customer,
                                                                  make_subscription, ops_user,
                                                                  now):
    free, bobs, alices = make_numbers(3)
    flag([bobs], "bob", ops_user, now)
    flag([alices], "alice", ops_user, now)
    alice = make_subscription(customer, subscriber="alice")
    got = number_next_available(subscription=alice, actor=ops_user, remark="n", now=now)
    assert got.pk == alices.pk  # its own first, although `free` comes earlier
    got = number_next_available(subscription=alice, actor=ops_user, remark="n", now=now)
    assert got.pk == free.pk  # then free ones, never bob's
    with pytest.raises(NoNumberAvailable):
        number_next_available(subscription=alice, actor=ops_user, remark="n", now=now)
    with pytest.raises(NoNumberAvailable):  # no subscriber: never a flagged number
        number_next_available(subscription=make_subscription(customer), actor=ops_user,
                              remark="n", now=now)
    assert fresh(bobs).state == S.AVAILABLE


def test_next_available_takes_the_subscriber_s_number_reserved_by_its_organization(
        make_numbers, customer, make_subscription, ops_user, now):
    number = make_numbers(1)[0]
    number_reserve(numbers=[number], organization=customer, reserved_for="alice", actor=ops_user,
                   remark="r", now=now)
    alice = make_subscription(customer, subscriber="alice")
    got = number_next_available(subscription=alice, actor=ops_user, remark="n", now=now)
    assert (got.pk, fresh(number).state, fresh(number).subscription) == (number.pk, S.ASSIGNED,
                                                                        alice)
