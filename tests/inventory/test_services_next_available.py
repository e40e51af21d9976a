"""number_next_available (DESIGN §4): the first free number that matches, never a golden one,
one held for someone, or one only another partner may see."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState
from inventory.models import PhoneNumber, Sku
from inventory.services import (
    NoNumberAvailable,
    ServiceError,
    number_add,
    number_assign,
    number_lock,
    number_next_available,
    number_reserve,
    write_numbers,
)
from tests.inventory.svc_helpers import fresh, history

S = NumberState


def take(subscription, actor, now, **filters) -> PhoneNumber:
    return number_next_available(subscription=subscription, actor=actor, remark="new line",
                                 now=now, **filters)


def test_takes_the_first_free_number_and_assigns_it(make_numbers, customer, service, ops_user, now):
    numbers = make_numbers(3)
    got = take(service, ops_user, now)
    assert got.pk == numbers[0].pk
    n = fresh(got)
    assert (n.state, n.subscription, n.organization) == (S.ASSIGNED, service, customer)
    (row,) = history(n)[1:]
    assert (row.history_user, row.history_change_reason, row.state) == (ops_user, "new line",
                                                                        S.ASSIGNED)
    assert take(service, ops_user, now).pk == numbers[1].pk


def test_skips_golden_held_hidden_and_busy_numbers(make_numbers, partner, other_partner, customer,
                                                   service, ops_user, now):
    golden = make_numbers(1, start="+6560000000", is_golden=True)[0]
    hidden = make_numbers(1, start="+6560000001", visible_to=other_partner)[0]
    held = make_numbers(1, start="+6560000002")[0]
    # an available number held for a user (as an import may leave it)
    held.reserved_for = "alice"
    write_numbers([held], fields=["reserved_for"], actor=None, remark="import", now=now)
    reserved, locked, assigned = make_numbers(3, start="+6560000003")
    number_reserve(numbers=[reserved], organization=customer, actor=ops_user, remark="r", now=now)
    number_lock(numbers=[locked], actor=ops_user, remark="l", now=now)
    number_assign(numbers=[assigned], subscription=service, actor=ops_user, remark="a", now=now)
    ours = make_numbers(1, start="+6560000006", visible_to=partner)[0]
    plain = make_numbers(1, start="+6560000007")[0]

    assert take(service, ops_user, now).pk == ours.pk
    assert take(service, ops_user, now).pk == plain.pk
    with pytest.raises(NoNumberAvailable):
        take(service, ops_user, now)
    for n in (golden, hidden, held):
        assert fresh(n).state == S.AVAILABLE


def test_filters_and_patterns(vendor, sku, service, ops_user, now):
    fax = Sku.objects.create(code="SG-FAX", name="Fax", voice=False, fax=True)
    number_add(numbers="+6560000000-+6560000009", vendor=vendor, sku=sku, actor=None, now=now)
    number_add(numbers="+6561000000-+6561000009", vendor=vendor, sku=fax, actor=None, now=now)
    number_add(numbers="+12125550100-+12125550105", vendor=vendor, sku=sku, actor=None, now=now,
               routing="us-east")

    assert take(service, ops_user, now, sku=fax).e164 == "+6561000000"
    assert take(service, ops_user, now, fax=True).e164 == "+6561000001"
    assert take(service, ops_user, now, country="US").e164 == "+12125550100"
    assert take(service, ops_user, now, routing="us-east").e164 == "+12125550101"
    assert take(service, ops_user, now, pattern="*0005").e164 == "+6560000005"
    assert take(service, ops_user, now, pattern="+6561*").e164 == "+6561000002"
    assert take(service, ops_user, now, pattern="+656?0000?7").e164 == "+6560000007"
    assert take(service, ops_user, now, pattern="2555").e164 == "+12125550102"
    assert take(service, ops_user, now, pattern="+6560", voice=True).e164 == "+6560000000"
    with pytest.raises(NoNumberAvailable):
        take(service, ops_user, now, pattern="+6560*0005")
    with pytest.raises(NoNumberAvailable):
        take(service, ops_user, now, country="GB")


def test_none_left_raises_and_changes_nothing(make_numbers, service, ops_user, now):
    make_numbers(1, is_golden=True)
    with pytest.raises(NoNumberAvailable, match="No available number"):
        take(service, ops_user, now)
    assert not PhoneNumber.objects.filter(state=S.ASSIGNED).exists()


def test_full_allowance_and_inactive_subscriptions_are_refused(make_numbers, customer,
                                                               make_subscription, ops_user, now):
    make_numbers(2)
    full = make_subscription(customer, allowance=0)
    with pytest.raises(ServiceError, match="allowance of 0 numbers reached"):
        take(full, ops_user, now)
    with pytest.raises(ServiceError, match="not active"):
        take(make_subscription(customer, status="expired"), ops_user, now)
    with pytest.raises(ServiceError, match="Service subscription"):
        take(make_subscription(customer, kind="did_reservation"), ops_user, now)
    assert set(PhoneNumber.objects.values_list("state", flat=True)) == {S.AVAILABLE}
    assert all(len(history(n)) == 1 for n in PhoneNumber.objects.all())


def take_many(subscription, actor, now, count, **filters) -> list[PhoneNumber]:
    return number_next_available(subscription=subscription, actor=actor, remark="new lines",
                                 now=now, count=count, **filters)


def test_count_takes_the_first_free_numbers_in_one_event(make_numbers, customer, service,
                                                         ops_user, now):
    from events.models import Event

    make_numbers(1, start="+6560000000", is_golden=True)
    numbers = make_numbers(6, start="+6560000001")
    got = take_many(service, ops_user, now, 4)
    assert [n.pk for n in got] == [n.pk for n in numbers[:4]]
    for n in map(fresh, got):
        assert (n.state, n.subscription, n.organization) == (S.ASSIGNED, service, customer)
        assert [r.history_change_reason for r in history(n)[1:]] == ["new lines"]
    (event,) = Event.objects.filter(type="number.assigned")
    assert event.data["count"] == 4


def test_count_is_all_or_none(make_numbers, customer, make_subscription, service, ops_user, now):
    make_numbers(3)
    with pytest.raises(NoNumberAvailable, match="Only 3 of 5 matching numbers"):
        take_many(service, ops_user, now, 5)
    with pytest.raises(ServiceError, match="allowance of 2 numbers reached"):
        take_many(make_subscription(customer, allowance=2), ops_user, now, 3)
    assert set(PhoneNumber.objects.values_list("state", flat=True)) == {S.AVAILABLE}
    assert len(take_many(make_subscription(customer, allowance=3), ops_user, now, 3)) == 3


def test_count_gives_the_subscriber_s_own_numbers_first(make_numbers, customer, make_subscription,
                                                        ops_user, now):
    free, bobs, reserved, alices = make_numbers(4)
    for number, user in ((bobs, "bob"), (alices, "alice")):
        number.reserved_for = user
        write_numbers([number], fields=["reserved_for"], actor=None, remark="import", now=now)
    number_reserve(numbers=[reserved], organization=customer, reserved_for="alice",
                   actor=ops_user, remark="r", now=now)
    alice = make_subscription(customer, subscriber="alice")
    got = take_many(alice, ops_user, now, 3)
    assert [n.pk for n in got] == [reserved.pk, alices.pk, free.pk]
    assert fresh(reserved).reservations.get().status == "assigned"
    assert fresh(bobs).state == S.AVAILABLE


def test_a_call_does_the_same_queries_for_one_number_or_fifty(make_numbers, service, ops_user,
                                                               now):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_numbers(60)
    with CaptureQueriesContext(connection) as one:
        take_many(service, ops_user, now, 1)
    with CaptureQueriesContext(connection) as fifty:
        assert len(take_many(service, ops_user, now, 50)) == 50
    assert len(fifty) == len(one)
