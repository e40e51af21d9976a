"""number_add (DESIGN §3 bulk input, §4): singles, lists, ranges; existing and invalid items
refused with a reason while the good ones are added; new locks get a period or none."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState, ReservationKind, ReservationStatus
from inventory.models import PhoneNumber, Reservation
from inventory.services import ServiceError, number_add, numbers_expire_due, system_user
from tests.inventory.svc_helpers import DAY, history


@pytest.fixture
def add(vendor, sku, ops_user, now):
    def add(numbers, **kw):
        kw.setdefault("actor", ops_user)
        return number_add(numbers=numbers, vendor=vendor, sku=sku, now=now, **kw)

    return add


def stored() -> list[str]:
    return list(PhoneNumber.objects.order_by("e164").values_list("e164", flat=True))


def test_a_single_number(add, vendor, sku, ops_user, now):
    result = add("+65 6000 0000")
    assert [n.e164 for n in result.done] == ["+6560000000"]
    n = PhoneNumber.objects.get()
    assert (n.e164, n.country, n.vendor, n.sku, n.state, n.state_changed_at, n.expires_at) == (
        "+6560000000", "SG", vendor, sku, NumberState.AVAILABLE, now, None)
    assert (n.voice, n.sms, n.fax) == (sku.voice, sku.sms, sku.fax)
    (row,) = history(n)
    assert (row.history_type, row.history_user, row.history_change_reason) == ("+", ops_user,
                                                                               "added")


def test_comma_and_newline_lists_and_a_list_of_strings(add):
    assert len(add("+6560000000, +6560000001\n+6560000002\r\n+6560000003;+6560000004").done) == 5
    assert len(add(["+6560000005", "+6560000006, +6560000007"]).done) == 3
    assert stored() == [f"+656000000{i}" for i in range(8)]


def test_national_numbers_need_the_country(add):
    result = add("6000 0000\n020 7946 0000", country="SG")
    assert [n.e164 for n in result.done] == ["+6560000000"]
    assert set(result.rejected) == {"020 7946 0000"}
    result = add("020 7946 0000", country="GB")
    assert [(n.e164, n.country) for n in result.done] == [("+442079460000", "GB")]
    result = add("6000 0001")
    assert result.rejected == {
        "6000 0001": "no country: give one, or write the number with + and country code"}


def test_ranges_are_inclusive(add):
    result = add("+6560000000-+6560000009, +12125550100 - +12125550102")
    assert len(result.done) == 13 and not result.rejected
    assert stored()[:3] == ["+12125550100", "+12125550101", "+12125550102"]
    assert stored()[-1] == "+6560000009"
    assert {n.country for n in PhoneNumber.objects.all()} == {"SG", "US"}


def test_existing_numbers_are_refused_and_the_rest_added(add):
    add("+6560000001")
    result = add("+6560000000-+6560000002, +6560000001")
    assert [n.e164 for n in result.done] == ["+6560000000", "+6560000002"]
    assert result.rejected == {"+6560000001": "already exists"}
    assert stored() == ["+6560000000", "+6560000001", "+6560000002"]
    assert len(history(PhoneNumber.objects.get(e164="+6560000001"))) == 1


def test_invalid_items_are_refused_with_their_reason(add):
    result = add("+6560000000, hello, 6.5657E+09, =HYPERLINK(1), +6560000009-+6560000001, +65 123")
    assert [n.e164 for n in result.done] == ["+6560000000"]
    assert result.rejected["hello"].startswith("not a phone number")
    assert result.rejected["6.5657E+09"].startswith("rounded scientific notation")
    assert result.rejected["=HYPERLINK(1)"] == "a formula, not a phone number"
    assert result.rejected["+6560000009-+6560000001"].startswith("range runs backwards")
    assert result.rejected["+65 123"] == "too short"
    assert stored() == ["+6560000000"]


def test_limits_for_the_form(add):
    result = add(",".join(f"+65600000{i:02d}" for i in range(51)), max_items=50)
    assert result.rejected == {"(input)": "51 entries; at most 50 per request"}
    result = add("+6560000000-+6560010000", max_range=10_000)
    assert result.rejected == {
        "+6560000000-+6560010000": "range of 10,001 numbers is over the limit of 10,000"}
    assert stored() == []


def test_the_form_limit_bounds_a_request_in_total(add):
    """Ranges each within the limit cannot add up past it (50 × 10,000 would be 500,000)."""
    result = add("+6560000000-+6560000599,+6560001000-+6560001599", max_items=50, max_range=1_000)
    assert result.rejected == {"(input)": "more than 1,000 numbers in one request; add the rest in "
                                           "another (manage.py add_numbers has no limit)"}
    assert stored() == []
    assert len(add("+6560000000-+6560000499,+6560001000-+6560001499", max_range=1_000).done) == 1_000


def test_attributes_and_tags(add, partner):
    add("+6560000000", tags="vip, sales;vip", routing="trunk-1", is_golden=True,
        visible_to=partner, notes="nice", sms=True)
    n = PhoneNumber.objects.get()
    assert (n.tags, n.tag_list, n.routing, n.is_golden, n.visible_to, n.notes, n.sms) == (
        ";sales;vip;", ["sales", "vip"], "trunk-1", True, partner, "nice", True)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"state": "reserved"}, "start available or locked"),
    ({"colour": "red"}, "Unknown number attributes: colour"),
    ({"vendor": "Nobody Telecom"}, "Unknown vendor: Nobody Telecom"),
    ({"sku": "NOPE"}, "Unknown SKU: NOPE"),
])
def test_bad_arguments_add_nothing(kwargs, message, vendor, sku, ops_user, now):
    args = {"numbers": "+6560000000", "vendor": vendor, "sku": sku, "actor": ops_user, "now": now,
            **kwargs}
    with pytest.raises(ServiceError, match=message):
        number_add(**args)
    assert stored() == []


def test_vendor_and_sku_by_name_and_code(vendor, sku, now):
    result = number_add(numbers="+6560000000", vendor=vendor.name, sku=sku.code, actor=None, now=now)
    assert result.done[0].vendor == vendor
    assert history(result.done[0])[0].history_user == system_user()


def test_added_locked_with_the_policy_period(add, ops_user, now):
    result = add("+6560000000-+6560000001", state="locked", remark="quarantine")
    assert len(result.done) == 2
    for n in PhoneNumber.objects.all():
        assert (n.state, n.expires_at) == (NumberState.LOCKED, now + 28 * DAY)
        (r,) = Reservation.objects.filter(number=n)
        assert (r.kind, r.status, r.organization, r.ends_at, r.remark, r.created_by) == (
            ReservationKind.LOCK, ReservationStatus.ACTIVE, None, now + 28 * DAY, "quarantine",
            ops_user)
        assert history(n)[0].history_change_reason == "quarantine"
    assert numbers_expire_due(now=now + 28 * DAY) == 2


def test_a_legacy_permanent_lock_never_expires(add, now):
    add("+6560000000", state="locked", expires_at=None)
    n = PhoneNumber.objects.get()
    assert (n.state, n.expires_at) == (NumberState.LOCKED, None)
    assert Reservation.objects.get(number=n).ends_at is None
    assert numbers_expire_due(now=now + 100 * 365 * DAY) == 0
    assert PhoneNumber.objects.get().state == NumberState.LOCKED


def test_added_locked_with_a_given_end(add, now):
    add("+6560000000", state="locked", expires_at=now + 3 * DAY)
    assert PhoneNumber.objects.get().expires_at == now + 3 * DAY
    assert numbers_expire_due(now=now + 3 * DAY) == 1


def test_ops_can_unlock_a_legacy_permanent_lock(add, ops_user, now):
    from inventory.services import number_unlock

    add("+6560000000", state="locked", expires_at=None)
    n = PhoneNumber.objects.get()
    assert number_unlock(numbers=[n], actor=ops_user, remark="checked", now=now).done
    assert PhoneNumber.objects.get().state == NumberState.AVAILABLE
    assert Reservation.objects.get(number=n).status == ReservationStatus.RELEASED


def test_a_long_range_is_walked_in_pieces():
    """spec_chunks gives consecutive sub-ranges of a long range (constant memory for the
    command); short items, abbreviated ends and bad items pass on as the parser sees them."""
    from inventory.numbers import spec_chunks

    assert list(spec_chunks("+6560000000-+6560002500,+6567000001", size=1000)) == [
        "+6560000000-+6560000999", "+6560001000-+6560001999", "+6560002000-+6560002500",
        "+6567000001"]
    assert list(spec_chunks("+6568791111-2222", size=500))[0] == "+6568791111-+6568791610"
    assert list(spec_chunks("+6560000009-+6560000001,hello", size=2)) == [
        "+6560000009-+6560000001,hello"]


def test_add_numbers_command_adds_a_range_piece_by_piece(vendor, sku):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("add_numbers", "+6560000000-+6560002499", vendor=vendor.name, sku=sku.code,
                 chunk=1000, stdout=out)
    assert out.getvalue().strip() == "2500 added, 0 refused"
    assert PhoneNumber.objects.count() == 2500
    assert PhoneNumber.history.count() == 2500


def test_a_large_add_writes_the_same_rows_history_and_events_as_a_small_one(add, partner, ops_user,
                                                                            now):
    """600 numbers take the set-wise path on PostgreSQL (one INSERT feeding its history):
    every column, history row and event is as the one-by-one path writes it."""
    from events.models import Event

    attrs = {"tags": "vip", "routing": "trunk-9", "visible_to": partner, "hold_days": 5,
             "after_hold_state": "deleted", "notes": "batch 7"}
    small = add("+6560000000", remark="intake", **attrs).done
    large = add("+6561000000-+6561000599, +12125550100", remark="intake", **attrs).done
    assert len(large) == 601
    assert {n.e164: n.pk for n in large} == dict(
        PhoneNumber.objects.filter(e164__in=[n.e164 for n in large]).values_list("e164", "pk"))
    skip = {"id", "e164", "country", "created_at", "updated_at"}
    values = PhoneNumber.objects.filter(pk=small[0].pk).values().get()
    expected = {k: v for k, v in values.items() if k not in skip}
    for row in PhoneNumber.objects.filter(pk__in=[large[0].pk, large[-1].pk]).values():
        assert {k: v for k, v in row.items() if k not in skip} == expected
    stored_last = PhoneNumber.objects.get(pk=large[-1].pk)
    assert stored_last.country == "US"
    assert (large[-1].created_at, large[-1].updated_at) == (stored_last.created_at,
                                                            stored_last.updated_at)
    rows = PhoneNumber.history.filter(id__in=[n.pk for n in large])
    assert rows.count() == 601
    assert set(rows.values_list("history_type", "history_user", "history_change_reason",
                                "history_date", "e164", "tags")) >= {
        ("+", ops_user.pk, "intake", now, large[0].e164, ";vip;")}
    assert {r.history_type for r in rows} == {"+"}
    events = Event.objects.filter(type="number.added").order_by("id")
    assert [e.data["count"] for e in events] == [1, 601]
    assert events[1].data["numbers"][0] == {**events[0].data["numbers"][0], "e164": "+6561000000"}
