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
