"""The ops admin of numbers, driven through Django's test client as an ops user would click.

Each action: allowed (the number moves and the message says so), refused (the message names
the number and the reason, nothing else changes) and permission denied.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from inventory.choices import NumberState
from inventory.models import PhoneNumber, Reservation
from inventory.services import number_delete, number_lock, number_reserve

S = NumberState
CL = "/admin/inventory/phonenumber/"


@pytest.fixture
def ops(ops_user):
    client = Client()
    client.force_login(ops_user)
    return client


@pytest.fixture
def readonly_user(db):
    user = get_user_model().objects.create_user("viewer", "v@example.com", "viewer-pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops read-only"))
    return user


def state_of(e164: str) -> str:
    return PhoneNumber.objects.get(e164=e164).state


def said(response, *parts: str) -> bool:
    """Every part appears in the messages shown after the response."""
    text = " ".join(messages_of(response))
    return all(part in text for part in parts)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def start_action(client, action, numbers, *, query="", select_across=False):
    """Choose an action on the change list: the answer is its intermediate form."""
    return client.post(CL + query, {
        "action": action, "index": 0, "select_across": int(select_across),
        "_selected_action": [n.pk for n in numbers],
    })


def apply_action(client, action, numbers, fields, *, query="", select_across=False):
    data = {"action": action, "index": 0, "select_across": int(select_across),
            "_selected_action": [n.pk for n in numbers], "apply": "1"}
    data.update({f"f-{k}": v for k, v in fields.items()})
    return client.post(CL + query, data, follow=True)


# --- tabs, columns, actions per state ---------------------------------------------------


def action_choices(response) -> set[str]:
    return set(re.findall(r'<option value="(\w+)">', response.content.decode().split('name="action"')[1]
                          .split("</select>")[0]))


def test_each_tab_offers_only_the_actions_valid_in_its_state(ops, make_numbers):
    make_numbers(2)
    expected = {
        "available": {"reserve", "lock", "assign", "delete_numbers", "set_reserved_for", "mass_edit"},
        "reserved": {"assign", "extend", "release", "set_reserved_for", "mass_edit"},
        "assigned": {"swap", "set_reserved_for", "mass_edit"},
        "hold": {"set_reserved_for", "mass_edit"},
        "locked": {"unlock", "delete_numbers", "set_reserved_for", "mass_edit"},
        "cooling": {"set_reserved_for", "mass_edit"},
        "deleted": {"recover", "mass_edit"},
    }
    for state, actions in expected.items():
        response = ops.get(CL, {"state": state})
        assert response.status_code == 200
        assert action_choices(response) == actions, state
    everything = action_choices(ops.get(CL))
    assert everything == {"reserve", "assign", "extend", "release", "lock", "unlock", "delete_numbers",
                          "recover", "swap", "set_reserved_for", "mass_edit"}
    assert "delete_selected" not in everything


def test_tabs_link_every_state_and_mark_the_current_one(ops, make_numbers):
    make_numbers(1)
    html = ops.get(CL, {"state": "locked", "q": "+65"}).content.decode()
    for label in ("Available", "Reserved", "Assigned", "Locked", "Cooling", "Deleted", "All"):
        assert f">{label}</a>" in html
    assert re.search(r'href="\?q=%2B65&amp;state=reserved"', html)  # the search is kept
    assert re.search(r'class="active" data-state="locked"', html)


def test_tab_columns(ops, make_numbers, customer, now):
    numbers = make_numbers(2)
    number_reserve(numbers=numbers[:1], organization=customer, actor=None, remark="r",
                   reserved_for="alice", now=now)
    number_lock(numbers=numbers[1:], actor=None, remark="l", now=now)
    reserved = ops.get(CL, {"state": "reserved"}).content.decode()
    for column in ("organization", "reserved for", "kind", "ends", "days left"):
        assert f">{column.capitalize()}<" in reserved or f">{column}<" in reserved.lower(), column
    assert "Beta Customer" in reserved and "alice" in reserved and "Manual" in reserved
    assert numbers[1].e164 not in reserved
    locked = ops.get(CL, {"state": "locked"}).content.decode()
    assert numbers[1].e164 in locked and numbers[0].e164 not in locked
    # A legacy lock without an end shows "permanent".
    PhoneNumber.objects.filter(pk=numbers[1].pk).update(expires_at=None)  # test set-up only
    assert "permanent" in ops.get(CL, {"state": "locked"}).content.decode()


def test_rows_cannot_be_deleted(ops, make_numbers):
    number = make_numbers(1)[0]
    assert ops.get(reverse("admin:inventory_phonenumber_delete", args=[number.pk])).status_code == 403
    response = ops.post(CL, {"action": "delete_selected", "index": 0, "_selected_action": [number.pk]},
                        follow=True)
    assert PhoneNumber.objects.filter(pk=number.pk).exists()
    assert any("No action selected" in m for m in messages_of(response))


# --- reserve ----------------------------------------------------------------------------


def test_reserve_through_the_form(ops, make_numbers, customer, ops_user):
    numbers = make_numbers(2)
    form = start_action(ops, "reserve", numbers, query="?state=available")
    assert form.status_code == 200
    html = form.content.decode()
    assert 'data-theme="admin-autocomplete"' in html and 'id="action-count"' in html
    assert re.search(r"Reserve <strong>2</strong> numbers", html)

    response = apply_action(ops, "reserve", numbers, {"organization": str(customer.uuid),
                                                       "reserved_for": "alice", "remark": "for Beta"},
                            query="?state=available")
    assert response.redirect_chain[-1][0].endswith("?state=available")
    assert said(response, "Reserved 2 numbers")
    for n in numbers:
        n.refresh_from_db()
        assert (n.state, n.organization, n.reserved_for) == (S.RESERVED, customer, "alice")
    record = numbers[0].history.first()
    assert (record.history_user, record.history_change_reason) == (ops_user, "for Beta")


def test_reserve_refusal_names_number_and_reason(ops, make_numbers, customer, other_customer, now):
    numbers = make_numbers(2)
    number_reserve(numbers=numbers[1:], organization=other_customer, actor=None, remark="x", now=now)
    response = apply_action(ops, "reserve", numbers, {"organization": str(customer.uuid),
                                                       "remark": "hold"})
    text = " ".join(messages_of(response))
    assert "Reserved 1 number" in text and "Reserve: 1 number refused" in text
    assert f"{numbers[1].e164}: already reserved by Gamma Customer" in text
    assert PhoneNumber.objects.get(pk=numbers[1].pk).organization == other_customer


@pytest.mark.parametrize("value, error", [
    ("not-a-uuid", "is neither a choice of the list nor a uuid"),
    ("1b4e28ba-2fa1-41d2-883f-0016d3cca427", "No organization with the uuid"),
])
def test_reserve_with_a_bad_uuid_changes_nothing(ops, make_numbers, value, error):
    numbers = make_numbers(1)
    response = apply_action(ops, "reserve", numbers, {"organization": value, "remark": "r"})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert state_of(numbers[0].e164) == S.AVAILABLE


def test_reserve_needs_a_remark(ops, make_numbers, customer):
    numbers = make_numbers(1)
    response = apply_action(ops, "reserve", numbers, {"organization": str(customer.uuid), "remark": ""})
    assert "This field is required" in response.content.decode()
    assert state_of(numbers[0].e164) == S.AVAILABLE


def test_read_only_ops_have_no_actions_and_cannot_post_one(make_numbers, customer, readonly_user):
    numbers = make_numbers(1)
    client = Client()
    client.force_login(readonly_user)
    page = client.get(CL)
    assert page.status_code == 200 and numbers[0].e164 in page.content.decode()
    assert 'name="action"' not in page.content.decode()
    response = apply_action(client, "reserve", numbers, {"organization": str(customer.uuid),
                                                          "remark": "sneaky"})
    assert response.status_code in (200, 403)
    assert state_of(numbers[0].e164) == S.AVAILABLE


def test_each_action_needs_its_own_permission(make_numbers, customer):
    """A staff user allowed to reserve cannot lock, and the other way round."""
    numbers = make_numbers(1)
    user = get_user_model().objects.create_user("reserver", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_phonenumber", "reserve_number"]))
    client = Client()
    client.force_login(user)
    assert action_choices(client.get(CL)) == {"reserve"}
    response = apply_action(client, "lock", numbers, {"remark": "no"})
    assert any("No action selected" in m for m in messages_of(response))
    assert state_of(numbers[0].e164) == S.AVAILABLE
    apply_action(client, "reserve", numbers, {"organization": str(customer.uuid), "remark": "ok"})
    assert state_of(numbers[0].e164) == S.RESERVED


# --- assign and extend ------------------------------------------------------------------


def test_assign_to_a_service_subscription(ops, make_numbers, service):
    numbers = make_numbers(2)
    response = apply_action(ops, "assign", numbers, {"subscription": str(service.uuid), "remark": "go"})
    assert said(response, "Assigned 2 numbers")
    assert set(PhoneNumber.objects.filter(subscription=service).values_list("state", flat=True)) == {
        S.ASSIGNED}


def test_assign_refuses_wrong_kind_inactive_and_other_organization(
        ops, make_numbers, customer, other_customer, make_subscription, now):
    numbers = make_numbers(2)
    did = make_subscription(customer, kind="did_reservation")
    ended = make_subscription(customer, status="expired")
    response = apply_action(ops, "assign", numbers, {"subscription": str(did.uuid), "remark": "x"})
    assert "DID reservation subscription; this needs a Service subscription" in response.content.decode()
    response = apply_action(ops, "assign", numbers, {"subscription": str(ended.uuid), "remark": "x"})
    assert "is expired, not active" in response.content.decode()
    assert set(PhoneNumber.objects.values_list("state", flat=True)) == {S.AVAILABLE}

    number_reserve(numbers=numbers[:1], organization=other_customer, actor=None, remark="r", now=now)
    other_service = make_subscription(customer)
    response = apply_action(ops, "assign", numbers, {"subscription": str(other_service.uuid),
                                                      "remark": "x"})
    text = " ".join(messages_of(response))
    assert "Assigned 1 number" in text and "Assign: 1 number refused" in text
    assert f"{numbers[0].e164}: reserved by Gamma Customer; the subscription belongs to Beta Customer" in text


def test_extend_makes_a_charged_reservation(ops, make_numbers, customer, make_subscription, now):
    numbers = make_numbers(1)
    number_reserve(numbers=numbers, organization=customer, actor=None, remark="r", now=now)
    did = make_subscription(customer, kind="did_reservation", period_end=now + dt.timedelta(days=90))
    response = apply_action(ops, "extend", numbers, {"did_reservation": str(did.uuid), "remark": ""},
                            query="?state=reserved")
    assert said(response, "Extended 1 number")
    active = Reservation.objects.get(number=numbers[0], status="active")
    assert (active.kind, active.did_reservation) == ("charged", did)
    assert PhoneNumber.objects.get(pk=numbers[0].pk).expires_at == did.current_period_end


def test_extend_with_a_service_subscription_is_refused(ops, make_numbers, customer, service, now):
    numbers = make_numbers(1)
    number_reserve(numbers=numbers, organization=customer, actor=None, remark="r", now=now)
    response = apply_action(ops, "extend", numbers, {"did_reservation": str(service.uuid)},
                            query="?state=reserved")
    assert "this needs a DID reservation subscription" in response.content.decode()
    assert not Reservation.objects.filter(kind="charged").exists()


# --- release, lock, unlock, delete, recover ---------------------------------------------


def test_release_confirms_first_then_frees(ops, make_numbers, customer, now):
    numbers = make_numbers(3)
    number_reserve(numbers=numbers, organization=customer, actor=None, remark="r", now=now)
    confirm = start_action(ops, "release", numbers, query="?state=reserved")
    html = confirm.content.decode()
    assert "confirm-destructive" in html and re.search(r"Release <strong>3</strong> numbers", html)
    assert "errornote" not in html and "danger-button" in html  # a confirmation is no error
    assert re.search(r"<td>Beta Customer</td><td>3</td><td>\d+ \w{3} \d{4}</td>", html)  # names the holder
    assert all(state_of(n.e164) == S.RESERVED for n in numbers)
    response = apply_action(ops, "release", numbers, {"remark": "customer gave up"},
                            query="?state=reserved")
    assert said(response, "Released 3 numbers")
    assert all(state_of(n.e164) == S.AVAILABLE for n in numbers)


def test_lock_unlock_delete_recover(ops, make_numbers):
    numbers = make_numbers(2)
    response = apply_action(ops, "lock", numbers, {"remark": "audit"})
    assert said(response, "Locked 2 numbers")
    confirm = start_action(ops, "unlock", numbers, query="?state=locked").content.decode()
    assert "confirm-destructive" in confirm
    response = apply_action(ops, "unlock", numbers[:1], {"remark": "done"}, query="?state=locked")
    assert said(response, "Unlocked 1 number")
    assert [state_of(n.e164) for n in numbers] == [S.AVAILABLE, S.LOCKED]

    response = apply_action(ops, "delete_numbers", numbers, {"reason": "faulty", "remark": "dead line"})
    assert said(response, "Deleted 2 numbers")
    number = PhoneNumber.objects.get(pk=numbers[0].pk)
    assert (number.state, number.delete_reason) == (S.DELETED, "faulty")

    response = apply_action(ops, "recover", numbers[:1], {"remark": "fixed"}, query="?state=deleted")
    assert said(response, "Recovered 1 number")
    assert [state_of(n.e164) for n in numbers] == [S.AVAILABLE, S.DELETED]


def test_refused_moves_name_the_state(ops, make_numbers, customer, now):
    numbers = make_numbers(2)
    number_reserve(numbers=numbers[:1], organization=customer, actor=None, remark="r", now=now)
    response = apply_action(ops, "delete_numbers", numbers, {"reason": "other", "remark": "cleanup"})
    text = " ".join(messages_of(response))
    assert "Deleted 1 number" in text and "Delete: 1 number refused" in text
    assert f"{numbers[0].e164}: is reserved; delete needs available or locked" in text
    response = apply_action(ops, "unlock", numbers[:1], {"remark": "x"})
    assert f"{numbers[0].e164}: is reserved; unlock needs locked" in " ".join(messages_of(response))


ACTION_PERMS = {"reserve": "reserve_number", "assign": "assign_number", "extend": "extend_number",
                "release": "release_number", "lock": "lock_number", "unlock": "unlock_number",
                "delete_numbers": "delete_number", "recover": "recover_number",
                "set_reserved_for": "set_reserved_for_number", "mass_edit": "mass_edit_number"}


@pytest.mark.parametrize("action", list(ACTION_PERMS))
def test_permission_denied_per_action(action, make_numbers, customer, service):
    """Every action but one allowed: that one is not offered, and posting it changes nothing."""
    numbers = make_numbers(1)
    user = get_user_model().objects.create_user(f"no-{action}", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_phonenumber", *(p for a, p in ACTION_PERMS.items() if a != action)]))
    client = Client()
    client.force_login(user)
    swap = set() if action == "assign" else {"swap"}  # a swap assigns: the assign permission
    assert action_choices(client.get(CL)) == (set(ACTION_PERMS) | swap) - {action}
    fields = {"organization": str(customer.uuid), "subscription": str(service.uuid),
              "did_reservation": str(service.uuid), "reason": "other", "routing": "x", "remark": "r"}
    before = list(PhoneNumber.history.values_list("history_id", flat=True))
    response = apply_action(client, action, numbers, fields)
    assert any("No action selected" in m for m in messages_of(response))
    assert list(PhoneNumber.history.values_list("history_id", flat=True)) == before


@pytest.mark.parametrize("action, fields, reason", [
    ("reserve", {"remark": "r"}, "is locked; reserve needs available"),
    ("assign", {"remark": "r"}, "is locked; assign needs available or reserved"),
    ("extend", {"remark": "r"}, "is locked; extend needs reserved"),
    ("release", {"remark": "r"}, "is locked; release needs reserved"),
    ("lock", {"remark": "r"}, None),  # already locked: no-op, not a refusal
    ("recover", {"remark": "r"}, "is locked; recover needs deleted"),
])
def test_refused_per_action(ops, make_numbers, customer, service, make_subscription, action, fields,
                            reason):
    """A locked number refuses every move but unlock and delete, with the reason."""
    number = make_numbers(1)[0]
    number_lock(numbers=[number], actor=None, remark="hold")
    did = make_subscription(customer, kind="did_reservation")
    fields = {**fields, "organization": str(customer.uuid), "subscription": str(service.uuid),
              "did_reservation": str(did.uuid)}
    text = " ".join(messages_of(apply_action(ops, action, [number], fields)))
    if reason:
        assert "1 number refused" in text and f"{number.e164}: {reason}" in text
        assert " done" not in text  # a refusal is never reported as a success
    else:
        assert "nothing to change (0 done, 0 refused, 1 already so)" in text
    assert state_of(number.e164) == S.LOCKED


def test_delete_needs_a_reason(ops, make_numbers):
    numbers = make_numbers(1)
    response = apply_action(ops, "delete_numbers", numbers, {"reason": "", "remark": "x"})
    assert "This field is required" in response.content.decode()
    assert state_of(numbers[0].e164) == S.AVAILABLE


def test_select_across_acts_on_every_matching_number(ops, make_numbers):
    """"Select all N" on a filtered list: the action gets the filter's queryset, not one page."""
    numbers = make_numbers(130)
    make_numbers(5, start="+6561000000")
    query = "?state=available&q=%2B6560*"
    assert "confirm-destructive" in start_action(ops, "delete_numbers", numbers[:100], query=query,
                                            select_across=True).content.decode()
    form = start_action(ops, "lock", numbers[:100], query=query, select_across=True)
    assert re.search(r"Lock <strong>130</strong> numbers", form.content.decode())
    response = apply_action(ops, "lock", numbers[:100], {"remark": "bulk"}, query=query,
                            select_across=True)
    assert said(response, "Locked 130 numbers")
    assert PhoneNumber.objects.filter(state=S.LOCKED).count() == 130
    assert PhoneNumber.objects.filter(e164__startswith="+6561", state=S.AVAILABLE).count() == 5


def test_many_refusals_are_summarised(ops, make_numbers):
    numbers = make_numbers(30)
    number_delete(numbers=numbers, reason="other", actor=None, remark="x")
    response = apply_action(ops, "lock", numbers, {"remark": "y"})
    text = " ".join(messages_of(response))
    assert "Lock: 30 numbers refused" in text and "… and 10 more refused" in text


# --- mass edit --------------------------------------------------------------------------


def test_mass_edit_changes_attributes_never_state(ops, make_numbers, customer, partner, now, ops_user):
    from inventory.models import Sku

    numbers = make_numbers(3, tags="old;keep")
    number_reserve(numbers=numbers[:1], organization=customer, actor=None, remark="r", now=now)
    gold = Sku.objects.create(code="SG-GOLD")
    before = [n.history.count() for n in numbers]
    response = apply_action(ops, "mass_edit", numbers, {
        "sku": gold.pk, "routing": "trunk-7", "is_golden": "yes", "sms": "yes",
        "visible_to": "acme.example", "add_tags": "vip, new", "remove_tags": "old",
        "remark": "re-tier",
    })
    assert said(response, "Updated 3 numbers")
    for n, count in zip(numbers, before, strict=True):
        n.refresh_from_db()
        assert (n.sku, n.routing, n.is_golden, n.sms, n.visible_to) == (gold, "trunk-7", True, True, partner)
        assert n.tag_list == ["keep", "new", "vip"]
        assert n.history.count() == count + 1
        assert n.history.first().history_change_reason == "re-tier"
        assert n.history.first().history_user == ops_user
    assert [n.state for n in numbers] == [S.RESERVED, S.AVAILABLE, S.AVAILABLE]

    # Nothing new: no history rows.
    response = apply_action(ops, "mass_edit", numbers, {"routing": "trunk-7", "remark": "again"})
    assert said(response, "Mass edit: nothing to change (0 done, 0 refused, 3 already so)")


def test_mass_edit_clears_and_validates(ops, make_numbers, customer):
    numbers = make_numbers(1, routing="r1", notes="n")
    response = apply_action(ops, "mass_edit", numbers, {"remark": "x"})
    assert "Choose at least one change" in response.content.decode()
    response = apply_action(ops, "mass_edit", numbers, {"visible_to": str(customer.uuid), "remark": "x"})
    assert "is a customer; only a partner" in response.content.decode()
    apply_action(ops, "mass_edit", numbers, {"clear_routing": "on", "clear_notes": "on", "remark": "x"})
    number = PhoneNumber.objects.get(pk=numbers[0].pk)
    assert (number.routing, number.notes) == ("", "")


def test_mass_edit_service_refuses_state():
    from inventory.services import ServiceError, number_update_attributes

    with pytest.raises(ServiceError, match="state"):
        number_update_attributes(numbers=[], changes={"state": "available"}, actor=None, remark="x")


# --- the number page and its history ----------------------------------------------------


def test_number_page_shows_reservations_and_history(ops, make_numbers, customer, ops_user):
    numbers = make_numbers(1)
    apply_action(ops, "reserve", numbers, {"organization": str(customer.uuid), "remark": "held for Beta"})
    html = ops.get(reverse("admin:inventory_phonenumber_change", args=[numbers[0].pk])).content.decode()
    assert "Reservations and locks" in html
    assert "held for Beta" in html
    assert re.search(r"State:</strong> Available &rarr; Reserved", html)
    assert 'name="state"' not in html  # read-only


def test_history_page_shows_who_when_remark_and_changes(ops, make_numbers, customer, ops_user):
    numbers = make_numbers(1)
    apply_action(ops, "reserve", numbers, {"organization": str(customer.uuid), "remark": "held for Beta"})
    apply_action(ops, "release", numbers, {"remark": "let go"})
    response = ops.get(reverse("admin:inventory_phonenumber_history", args=[numbers[0].pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="history-row"') == 3  # added, reserved, released
    assert "held for Beta" in html and "let go" in html and ">ops<" in html
    assert re.search(r"State:</strong> Reserved &rarr; Available", html)
    assert re.search(r"Organization:</strong> Beta Customer \(customer\) &rarr; —", html)


def test_history_cannot_be_reverted(ops, make_numbers):
    number = make_numbers(1)[0]
    record = number.history.first()
    url = reverse("admin:inventory_phonenumber_simple_history", args=[number.pk, record.pk])
    assert ops.get(url).status_code == 200
    assert ops.post(url, {"routing": "evil"}).status_code == 403


def test_editing_a_number_goes_through_the_service_with_a_remark(ops, make_numbers, ops_user, vendor, sku):
    number = make_numbers(1)[0]
    url = reverse("admin:inventory_phonenumber_change", args=[number.pk])
    data = {"vendor": vendor.pk, "sku": sku.pk, "voice": "on", "routing": "r9", "tags": "a, b",
            "notes": "", "visible_to": "", "state": "deleted", "after_hold_state": "reserved",
            "reservations-TOTAL_FORMS": 0, "reservations-INITIAL_FORMS": 0}
    response = ops.post(url, {**data, "remark": ""})
    assert response.status_code == 200 and "Say why" in response.content.decode()
    response = ops.post(url, {**data, "remark": "new trunk"})
    assert response.status_code == 302
    number.refresh_from_db()
    assert (number.routing, number.tag_list, number.state) == ("r9", ["a", "b"], S.AVAILABLE)
    last = number.history.first()
    assert (last.history_change_reason, last.history_user) == ("new trunk", ops_user)


# --- add numbers ------------------------------------------------------------------------

ADD = "/admin/inventory/phonenumber/add/"


def add_form(vendor, sku, numbers, **extra):
    return {"numbers": numbers, "country": "SG", "vendor": vendor.pk, "sku": sku.pk,
            "state": "available", "tags": "", "notes": "", "visible_to": "", "remark": "", **extra}


def test_add_page_previews_then_adds(ops, vendor, sku, make_numbers, ops_user):
    make_numbers(1, start="+6560000002")
    data = add_form(vendor, sku, "+6560000001, +6560000002\n+6560000010-+6560000019\n12345\n6560 0003",
                    capabilities=["voice", "sms"], is_golden="on", tags="new")
    preview = ops.post(ADD, {**data, "preview": "1"})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert re.search(r"<strong>12</strong> numbers will be created", html)
    assert re.search(r"<strong>1</strong> already exists", html) and "+6560000002" in html
    assert "<code>12345</code>:" in html
    assert PhoneNumber.objects.count() == 1  # nothing yet
    fingerprint = re.search(r'name="previewed" value="(\w+)"', html).group(1)
    response = ops.post(ADD, {**data, "confirm": "1", "previewed": fingerprint}, follow=True)
    text = " ".join(messages_of(response))
    assert "Added 12 numbers" in text and "Add numbers: 2 numbers refused" in text
    added = PhoneNumber.objects.get(e164="+6560000015")
    assert (added.sms, added.is_golden, added.tag_list, added.state) == (True, True, ["new"], S.AVAILABLE)
    assert added.history.first().history_user == ops_user


def test_add_confirm_of_an_edited_form_previews_again(ops, vendor, sku):
    data = add_form(vendor, sku, "+6560000001")
    response = ops.post(ADD, {**data, "confirm": "1", "previewed": "stale"})
    assert "will be created" in response.content.decode()
    assert not PhoneNumber.objects.exists()


def test_add_locked_range(ops, vendor, sku):
    data = add_form(vendor, sku, "+6560000100-+6560000199", state="locked", remark="quarantine")
    html = ops.post(ADD, {**data, "preview": "1"}).content.decode()
    fingerprint = re.search(r'name="previewed" value="(\w+)"', html).group(1)
    ops.post(ADD, {**data, "confirm": "1", "previewed": fingerprint})
    assert PhoneNumber.objects.filter(state=S.LOCKED).count() == 100
    assert Reservation.objects.filter(kind="lock", status="active").count() == 100


def test_adding_locked_numbers_is_a_lock_needing_its_permission_and_a_remark(
        ops, client, vendor, sku):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    data = add_form(vendor, sku, "+6560000100", state="locked")
    html = ops.post(ADD, {**data, "preview": "1"}).content.decode()
    assert "Say why the numbers are locked" in html and "will be created" not in html
    adder = get_user_model().objects.create_user("adder", password="pw", is_staff=True)
    adder.user_permissions.add(*Permission.objects.filter(
        codename__in=["add_phonenumber", "view_phonenumber"]))
    client.force_login(adder)
    html = client.post(ADD, {**data, "remark": "quarantine", "preview": "1"}).content.decode()
    assert "Adding numbers locked needs the lock permission." in html
    assert not PhoneNumber.objects.exists()


def test_add_limits(ops, vendor, sku, settings):
    too_big = ops.post(ADD, {**add_form(vendor, sku, "+6560000000-+6560010000"), "preview": "1"})
    assert "over the limit of 10,000" in too_big.content.decode()
    many = ", ".join(f"+65600000{i:02d}" for i in range(51))
    too_many = ops.post(ADD, {**add_form(vendor, sku, many), "preview": "1"})
    assert "51 entries; at most 50 per request" in too_many.content.decode()
    missing = ops.post(ADD, {**add_form(vendor, sku, "+6560000001"), "vendor": "", "preview": "1"})
    assert "This field is required" in missing.content.decode()


def test_add_needs_add_permission(make_numbers, readonly_user):
    client = Client()
    client.force_login(readonly_user)
    assert client.get(ADD).status_code == 403


# --- search and filters -----------------------------------------------------------------


def listed(client, **params) -> set[str]:
    response = client.get(CL, params)
    assert response.status_code == 200
    return set(re.findall(r'>(\+\d{8,15})</a>', response.content.decode()))


@pytest.mark.parametrize("pattern, expected", [
    ("+656000000*", {"+6560000000", "+6560000001", "+6560000002"}),
    ("*0002", {"+6560000002"}),
    ("+6560000001", {"+6560000001"}),
    ("+6561", {"+6561000009"}),
    ("1000009", {"+6561000009"}),
    ("+65?1*", {"+6561000009"}),
])
def test_pattern_search(ops, make_numbers, pattern, expected):
    make_numbers(3)
    make_numbers(1, start="+6561000009")
    assert listed(ops, q=pattern) == expected


def test_prefix_search_keeps_every_match_at_digit_boundaries(ops, make_numbers):
    """The prefix range bound ("+65600009" → "+6560001") must not cut off numbers ending in 9s."""
    from inventory.numbers import prefix_upper_bound

    assert prefix_upper_bound("+656051") == "+656052"
    assert prefix_upper_bound("+656059") == "+65606"
    assert prefix_upper_bound("+99") is None
    numbers = {n.e164 for n in make_numbers(25, start="+6560000990")}
    assert listed(ops, q="+65600009") == {n for n in numbers if n.startswith("+65600009")}
    assert listed(ops, q="+656000099*") == {n for n in numbers if n.startswith("+656000099")}
    assert listed(ops, q="+6560001") == {n for n in numbers if n.startswith("+6560001")}


def test_bad_pattern_says_why(ops, make_numbers):
    make_numbers(1)
    response = ops.get(CL, {"q": "abc"})
    assert listed(ops, q="abc") == set()
    assert any("a number pattern has digits" in m for m in messages_of(response))


def test_pattern_search_does_not_use_icontains(ops, make_numbers, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_numbers(1)
    with CaptureQueriesContext(connection) as ctx:
        ops.get(CL, {"q": "+6560*"})
    sql = " ".join(q["sql"] for q in ctx.captured_queries if "inventory_phonenumber" in q["sql"])
    assert "UPPER(" not in sql and "LIKE UPPER" not in sql
    # a prefix is a range on the e164 btree (same set for "+" and digits), not a LIKE
    assert "\"e164\" >= '+6560'" in sql and "\"e164\" < '+6561'" in sql


def test_filters(ops, make_numbers, vendor, sku, partner, customer, service, now):
    from inventory.models import Sku, Vendor
    from inventory.services import number_assign

    other_vendor = Vendor.objects.create(name="M1 Trunks")
    gold = Sku.objects.create(code="GOLD", sms=True)
    a, b, c, d = (n.e164 for n in make_numbers(4, routing="r1"))
    PhoneNumber.objects.filter(e164=b).update(vendor=other_vendor, sku=gold, sms=True, is_golden=True,
                                              is_ported_in=True, routing="r2", tags=";vip;",
                                              visible_to=partner)  # test set-up only
    numbers = PhoneNumber.objects.order_by("e164")
    number_reserve(numbers=[numbers.get(e164=c)], organization=customer, reserved_for="alice",
                   actor=None, remark="r", now=now)
    number_assign(numbers=[numbers.get(e164=d)], subscription=service, actor=None, remark="a", now=now)

    assert listed(ops, vendor__id__exact=other_vendor.pk) == {b}
    assert listed(ops, sku__id__exact=gold.pk) == {b}
    assert listed(ops, capability="sms") == {b}
    assert listed(ops, is_golden__exact=1) == {b}
    assert listed(ops, is_ported_in__exact=1) == {b}
    assert listed(ops, country="sg") == {a, b, c, d}
    assert listed(ops, country="MY") == set()
    assert listed(ops, routing="r2") == {b}
    assert listed(ops, visible_to=str(partner.uuid)) == {b}
    assert listed(ops, visible_to="acme.example") == {b}
    assert listed(ops, subscription=str(service.uuid)) == {d}
    assert listed(ops, owner=str(customer.uuid)) == {c, d}
    assert listed(ops, reserved_for="alice") == {c}
    assert listed(ops, tags="vip") == {b}
    assert listed(ops, state="reserved") == {c}
    assert listed(ops, state="assigned", owner=str(customer.uuid)) == {d}


def test_filter_with_a_bad_uuid_says_so(ops, make_numbers):
    make_numbers(1)
    response = ops.get(CL, {"subscription": "nope"})
    assert response.status_code == 200
    assert listed(ops, subscription="nope") == set()
    assert any("subscription: no subscription is “nope”" in m for m in messages_of(response))
    unknown = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
    response = ops.get(CL, {"owner": unknown})
    assert any(f"no organization is “{unknown}”" in m for m in messages_of(response))


def test_filter_boxes_render_without_listing_organizations(ops, make_numbers, partner, customer):
    make_numbers(1)
    html = ops.get(CL).content.decode()
    for name in ("country", "routing", "visible_to", "subscription", "owner", "reserved_for", "tags"):
        assert f'name="{name}"' in html, name
    assert "Beta Customer" not in html  # organizations are typed, not listed


def test_changelist_query_count_is_flat(ops, make_numbers, customer, now,
                                        django_assert_max_num_queries):
    numbers = make_numbers(60)
    number_reserve(numbers=numbers, organization=customer, actor=None, remark="r", now=now)
    from inventory.admin import TABS

    # 12 for the page, plus per tab its count: on PostgreSQL an estimate and, when that is
    # small, a count bounded by EXACT_COUNT_BELOW (never a full COUNT(*)).
    with django_assert_max_num_queries(12 + 2 * len(TABS)):
        ops.get(CL, {"state": "reserved"})


# --- counting at scale (PostgreSQL) -------------------------------------------------------


@pytest.mark.postgres
def test_large_lists_show_an_estimate_without_counting(ops, make_numbers, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inventory import admin_views

    make_numbers(300)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_phonenumber")
    monkeypatch.setattr(admin_views, "EXACT_COUNT_BELOW", 100)
    with CaptureQueriesContext(connection) as ctx:
        html = ops.get(CL).content.decode()
    assert "about" in html
    counts = [q["sql"] for q in ctx.captured_queries
              if "COUNT(" in q["sql"].upper() and "inventory_phonenumber" in q["sql"]]
    # Only the tabs' bounded counts of small states (LIMIT 101); the list itself counts nothing.
    assert all("LIMIT 101" in sql and "WHERE" in sql for sql in counts), counts
    assert not any("'available'" in sql for sql in counts)  # 300 available: an estimate
    with CaptureQueriesContext(connection) as ctx:
        ops.get(CL, {"q": "+6560000*"})
    assert any(q["sql"].startswith("EXPLAIN") for q in ctx.captured_queries)


@pytest.mark.postgres
def test_estimate_on_the_last_page_becomes_exact(ops, make_numbers, monkeypatch):
    from inventory import admin_views

    make_numbers(30)
    monkeypatch.setattr(admin_views, "EXACT_COUNT_BELOW", 0)
    html = ops.get(CL, {"q": "+656000001*"}).content.decode()
    assert re.search(r"\b10\s+numbers", html) and "about" not in html


# --- vendor list, subscriptions and the other admins --------------------------------------


def test_vendor_list_counts_numbers_per_state_in_one_query(ops, make_numbers, customer, now,
                                                           django_assert_max_num_queries):
    from inventory.models import Vendor

    numbers = make_numbers(5)
    number_reserve(numbers=numbers[:2], organization=customer, actor=None, remark="r", now=now)
    for i in range(5):
        Vendor.objects.create(name=f"Spare {i}")
    with django_assert_max_num_queries(9):  # 8, and the reseller filter's choices in the sidebar
        html = ops.get("/admin/inventory/vendor/").content.decode()
    vendor_id = numbers[0].vendor_id
    assert f'?vendor__id__exact={vendor_id}&amp;state=reserved">2</a>' in html
    assert f'?vendor__id__exact={vendor_id}&amp;state=available">3</a>' in html
    assert f'?vendor__id__exact={vendor_id}">5</a>' in html


def test_expiring_a_subscription_reserves_its_numbers(ops, make_numbers, service, customer, now):
    from inventory.services import number_assign

    numbers = make_numbers(2)
    number_assign(numbers=numbers, subscription=service, actor=None, remark="a", now=now)
    url = "/admin/subscriptions/subscription/"
    confirm = ops.post(url, {"action": "set_expired", "index": 0, "_selected_action": [service.pk]})
    html = confirm.content.decode()
    assert "confirm-destructive" in html and "2 assigned numbers" in html
    response = ops.post(url, {"action": "set_expired", "index": 0, "_selected_action": [service.pk],
                              "apply": "1"}, follow=True)
    assert any("1 subscription(s) set to expired; 2 number(s) reserved" in m
               for m in messages_of(response))
    service.refresh_from_db()
    assert service.status == "expired"
    assert set(PhoneNumber.objects.values_list("state", "organization")) == {(S.RESERVED, customer.pk)}


@pytest.mark.parametrize("path", [
    "/admin/inventory/sku/", "/admin/inventory/sku/add/", "/admin/inventory/lifecyclepolicy/",
    "/admin/inventory/importjob/", "/admin/subscriptions/organization/",
    "/admin/subscriptions/organization/add/", "/admin/subscriptions/subscription/",
    "/admin/subscriptions/subscription/add/", "/admin/subscriptions/subscriber/",
    "/admin/subscriptions/partnermembership/", "/admin/inventory/vendor/",
])
def test_other_admin_pages_open(ops, path, service, partner):
    assert ops.get(path).status_code == 200


def test_import_jobs_are_read_only(ops):
    assert ops.get("/admin/inventory/importjob/add/").status_code == 403


def test_organization_search_by_uuid(ops, customer, partner):
    html = ops.get("/admin/subscriptions/organization/", {"q": str(customer.uuid)}).content.decode()
    assert str(customer.uuid) in html and str(partner.uuid) not in html
    assert ops.get("/admin/subscriptions/organization/", {"q": "Acme"}).status_code == 200


# --- issue 13: pickers, the number's page, messages, overview, subscriptions ------------


def test_autocomplete_finds_organizations_by_name_and_domain(ops, customer, partner):
    url = reverse("admin:autocomplete")
    base = {"app_label": "inventory", "model_name": "phonenumber", "field_name": "organization"}
    found = ops.get(url, {**base, "term": "Beta"}).json()["results"]
    assert [r["text"] for r in found] == [str(customer)]
    found = ops.get(url, {**base, "term": "acme.example"}).json()["results"]
    assert [r["id"] for r in found] == [str(partner.pk)]


def test_reserve_by_picked_organization_says_whom_and_until(ops, make_numbers, customer):
    numbers = make_numbers(3)
    response = apply_action(ops, "reserve", numbers, {"organization": customer.pk, "remark": "pilot"})
    text = " ".join(messages_of(response))
    end = PhoneNumber.objects.get(pk=numbers[0].pk).expires_at
    from inventory.admin_views import day

    assert f"Reserved 3 numbers for Beta Customer until {day(end)}" in text
    link = re.search(r'href="([^"]+)">view them', text).group(1).replace("&amp;", "&")
    listed_page = ops.get(link).content.decode()
    assert all(n.e164 in listed_page for n in numbers)


def test_refusal_is_a_warning_linking_exactly_the_refused(ops, make_numbers, customer):
    numbers = make_numbers(3)
    number_lock(numbers=numbers[:1], actor=None, remark="x")
    response = apply_action(ops, "reserve", numbers, {"organization": customer.pk, "remark": "r"})
    levels = {str(m): m.level_tag for m in response.context["messages"]}
    warning = next(m for m, level in levels.items() if "refused" in m)
    assert levels[warning] == "warning"
    link = re.search(r'href="([^"]+)">view them', warning).group(1).replace("&amp;", "&")
    page = ops.get(link).content.decode()
    assert numbers[0].e164 in page and numbers[1].e164 not in page


def test_number_page_offers_its_state_actions_and_returns_there(ops, make_numbers, customer):
    number = make_numbers(1)[0]
    url = reverse("admin:inventory_phonenumber_change", args=[number.pk])
    html = ops.get(url).content.decode()
    offered = set(re.findall(r'data-action="(\w+)"', html))
    assert {"reserve", "assign", "lock", "delete_numbers"} <= offered
    assert not {"release", "unlock", "recover", "extend", "swap"} & offered
    form = ops.post(CL, {"action": "reserve", "index": 0, "_selected_action": [number.pk], "next": url})
    assert f'name="next" value="{url}"' in form.content.decode()
    response = ops.post(CL, {"action": "reserve", "index": 0, "_selected_action": [number.pk],
                             "next": url, "apply": "1", "f-organization": customer.pk,
                             "f-remark": "from the page"}, follow=True)
    assert response.redirect_chain[-1][0] == url
    assert said(response, "Reserved 1 number for Beta Customer")
    assert 'data-action="release"' in response.content.decode()  # now the reserved state's actions
    # An outside "next" is ignored (no open redirect).
    response = ops.post(CL, {"action": "release", "index": 0, "_selected_action": [number.pk],
                             "next": "https://evil.example/", "apply": "1", "f-remark": "x"})
    assert response.status_code == 302 and "evil" not in response["Location"]


def test_readonly_user_sees_no_action_buttons(client, readonly_user, make_numbers):
    number = make_numbers(1)[0]
    client.force_login(readonly_user)
    html = client.get(reverse("admin:inventory_phonenumber_change", args=[number.pk])).content.decode()
    assert 'id="number-actions"' in html and "data-action=" not in html


def test_set_and_clear_reserved_for(admin_client, make_numbers):
    number = make_numbers(1)[0]
    response = apply_action(admin_client, "set_reserved_for", [number],
                            {"reserved_for": "mei.lin", "remark": "VIP"})
    assert said(response, "Updated 1 number")
    assert PhoneNumber.objects.get(pk=number.pk).reserved_for == "mei.lin"
    apply_action(admin_client, "set_reserved_for", [number], {"reserved_for": "", "remark": "done"})
    assert PhoneNumber.objects.get(pk=number.pk).reserved_for == ""


def test_swap_out_from_the_number_page(admin_client, make_numbers, service, customer):
    from inventory.services import number_assign

    old, new = make_numbers(2)
    number_assign(numbers=[old], subscription=service, actor=None, remark="a")
    html = admin_client.get(reverse("admin:inventory_phonenumber_change", args=[old.pk])).content.decode()
    assert 'data-action="swap"' in html
    response = apply_action(admin_client, "swap", [old], {"new": new.e164, "remark": "customer asked"})
    assert said(response, "Swapped")
    old.refresh_from_db()
    new.refresh_from_db()
    assert (new.state, new.subscription) == (S.ASSIGNED, service)
    assert (old.state, old.organization) == (S.RESERVED, customer)


def test_swap_refusal_changes_nothing(admin_client, make_numbers, service, other_customer):
    from inventory.services import number_assign

    old, new = make_numbers(2)
    number_assign(numbers=[old], subscription=service, actor=None, remark="a")
    number_reserve(numbers=[new], organization=other_customer, actor=None, remark="theirs")
    response = apply_action(admin_client, "swap", [old], {"new": new.e164, "remark": "try"})
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert state_of(old.e164) == S.ASSIGNED and state_of(new.e164) == S.RESERVED


def test_hold_tab_lists_held_numbers(admin_client, make_numbers, service):
    from inventory.services import number_assign
    from subscriptions.services import subscription_set_status

    numbers = make_numbers(2)
    number_assign(numbers=numbers[:1], subscription=service, actor=None, remark="a")
    subscription_set_status(subscription=service, status="suspended", actor=None)
    html = admin_client.get(CL, {"state": "hold"}).content.decode()
    assert 'data-state="hold"' in html
    assert numbers[0].e164 in html and numbers[1].e164 not in html


def test_mass_edit_sets_after_hold_and_hold_days(ops, make_numbers):
    numbers = make_numbers(2)
    apply_action(ops, "mass_edit", numbers, {"after_hold_state": "available", "hold_days": 10,
                                            "remark": "short holds"})
    assert set(PhoneNumber.objects.values_list("after_hold_state", "hold_days")) == {("available", 10)}


def test_saving_without_a_remark_says_so_at_the_top(ops, make_numbers):
    number = make_numbers(1)[0]
    url = reverse("admin:inventory_phonenumber_change", args=[number.pk])
    response = ops.post(url, {"vendor": number.vendor_id, "sku": number.sku_id, "voice": "on",
                              "routing": "new-trunk", "tags": "", "notes": "", "remark": "",
                              "after_hold_state": "reserved", "hold_days": "",
                              "reservations-TOTAL_FORMS": 0, "reservations-INITIAL_FORMS": 0})
    html = response.content.decode()
    top = html.index('class="errornote"')
    assert "Remark (under Tags and notes)" in html[top:top + 600]
    assert PhoneNumber.objects.get(pk=number.pk).routing == number.routing


def test_overview_counts_link_to_their_lists(admin_client, make_numbers, customer, now):
    numbers = make_numbers(3)
    number_reserve(numbers=numbers[:2], organization=customer, actor=None, remark="r", now=now)
    html = admin_client.get("/admin/").content.decode()
    cards = dict(re.findall(r'href="([^"]+)" data-figure="state-(\w+)"', html)[i][::-1]
                 for i in range(len(S.values)))
    values = dict(re.findall(r'data-figure="([\w-]+)"[^>]*>\s*<span class="value">([^<]+)<', html))
    assert (values["state-reserved"], values["state-available"]) == ("2", "1")
    assert values["ending-reserved"] == "0"  # the manual period is longer than 7 days
    page = admin_client.get(cards["reserved"].replace("&amp;", "&")).content.decode()
    assert numbers[0].e164 in page and numbers[2].e164 not in page
    assert "numbermgmt" in html and "Django administration" not in html


def test_subscription_admin_creates_and_guards_through_the_services(admin_client, customer,
                                                                   other_customer, make_numbers):
    from inventory.services import number_set_reserved_for
    from subscriptions.models import Subscription

    kept = make_numbers(1)[0]
    number_set_reserved_for(numbers=[kept], reserved_for="dr.tan", actor=None, remark="kept")
    add = "/admin/subscriptions/subscription/add/"
    response = admin_client.post(add, {"organization": customer.pk, "kind": "service", "plan": "PBX",
                                       "current_period_end_0": "2027-01-31",
                                       "current_period_end_1": "00:00:00",
                                       "number_allowance": "5", "subscriber": "dr.tan"}, follow=True)
    sub = Subscription.objects.get(plan="PBX")
    assert said(response, "Onboarded: 1 number(s)")
    assert PhoneNumber.objects.get(pk=kept.pk).subscription == sub
    change = f"/admin/subscriptions/subscription/{sub.pk}/change/"
    response = admin_client.post(change, {"organization": other_customer.pk, "kind": "service",
                                          "plan": "PBX", "number_allowance": "0",
                                          "subscriber": "dr.tan", "change_reason": "shrink"},
                                 follow=True)
    assert said(response, "Nothing saved:", "holds 1 numbers", "allowance cannot drop below")
    sub.refresh_from_db()
    assert (sub.organization, sub.number_allowance) == (customer, 5)


def test_renew_moves_the_period_end_through_the_service(admin_client, customer, make_subscription):
    sub = make_subscription(customer, kind="did_reservation")
    url = "/admin/subscriptions/subscription/"
    confirm = admin_client.post(url, {"action": "renew", "index": 0, "_selected_action": [sub.pk]})
    assert "New period end" in confirm.content.decode()
    response = admin_client.post(url, {"action": "renew", "index": 0, "_selected_action": [sub.pk],
                                       "apply": "1", "current_period_end_0": "2027-06-30",
                                       "current_period_end_1": "12:00:00"}, follow=True)
    assert said(response, "Renewed 1 subscription(s) until 30 Jun 2027")
    sub.refresh_from_db()
    assert sub.current_period_end.year == 2027 and sub.current_period_end.month == 6


def test_import_job_page_links_the_job_not_a_missing_file(admin_client, admin_user):
    from django.core.files.base import ContentFile

    from inventory.models import ImportJob

    job = ImportJob.objects.create(original_name="numbers.csv", created_by=admin_user)
    job.file.save("numbers.csv", ContentFile(b"number\n+6560000000\n"))
    html = admin_client.get(f"/admin/inventory/importjob/{job.pk}/change/").content.decode()
    assert reverse("admin:inventory_phonenumber_import_job", args=[job.uuid]) in html
    assert "/media/" not in html and "View on site" not in html and ">View site<" not in html


def test_show_all_keeps_the_search_and_the_tab(ops, make_numbers):
    make_numbers(130)
    make_numbers(3, start="+6561000000")
    html = ops.get(CL, {"state": "available", "q": "+6560*"}).content.decode()
    link = re.search(r'<a href="([^"]+)" class="showall">', html).group(1).replace("&amp;", "&")
    assert "state=available" in link and "q=%2B6560" in link
    page = ops.get(CL + link).content.decode()
    assert page.count('class="action-select"') == 130


def test_xlsx_export_is_for_people(ops, make_numbers, customer, now, settings):
    """Bold frozen header with an autofilter, widths, dates as date cells in TIME_ZONE, E.164 text."""
    import io

    from django.utils import timezone
    from openpyxl import load_workbook

    numbers = make_numbers(2)
    number_reserve(numbers=numbers[:1], organization=customer, actor=None, remark="r", now=now)
    response = ops.get(reverse("admin:inventory_phonenumber_export", args=["xlsx"]))
    body = b"".join(response.streaming_content) if response.streaming else response.content
    sheet = load_workbook(io.BytesIO(body)).active
    from openpyxl.utils import get_column_letter

    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{get_column_letter(sheet.max_column)}3"
    assert all(c.font.bold for c in sheet[1])
    assert sheet.column_dimensions["A"].width >= 16
    header = [c.value for c in sheet[1]]
    row = {h: c for h, c in zip(header, sheet[2], strict=True)}
    assert row["number"].data_type == "s" and row["number"].value == numbers[0].e164
    ends = PhoneNumber.objects.get(pk=numbers[0].pk).expires_at
    assert row["expires_at"].is_date
    assert row["expires_at"].value == timezone.localtime(ends).replace(tzinfo=None, microsecond=0)


def test_extend_lists_the_holders_active_did_reservations(ops, make_numbers, customer, now,
                                                          make_subscription):
    numbers = make_numbers(2)
    number_reserve(numbers=numbers, organization=customer, actor=None, remark="r", now=now)
    did = make_subscription(customer, kind="did_reservation", plan="Keep 10")
    make_subscription(customer, kind="did_reservation", plan="Old", status="expired")
    html = start_action(ops, "extend", numbers, query="?state=reserved").content.decode()
    assert re.search(rf'type="radio" name="f-did_reservation" value="{did.pk}"[^>]*checked', html)
    assert "Keep 10" in html and "Old ·" not in html
    response = apply_action(ops, "extend", numbers, {"did_reservation": did.pk}, query="?state=reserved")
    assert said(response, "Extended 2 numbers for Beta Customer")


def test_overview_renders_the_heartbeat_slot_when_an_app_provides_it(admin_client, settings, tmp_path):
    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / "heartbeats.html").write_text('<a class="card" id="beat-card">beat alive</a>')
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], tmp_path]}]
    assert 'id="beat-card"' in admin_client.get("/admin/").content.decode()


def test_overview_says_whether_worker_and_beat_are_alive(admin_client):
    from ops.services import heartbeat_record

    html = admin_client.get("/admin/").content.decode()
    values = dict(re.findall(r'data-figure="(process-\w+)"[^>]*>\s*<span class="value">([^<]+)<', html))
    assert values == {"process-worker": "down", "process-beat": "down"}  # never seen
    heartbeat_record(name="worker")
    html = admin_client.get("/admin/").content.decode()
    values = dict(re.findall(r'data-figure="(process-\w+)"[^>]*>\s*<span class="value">([^<]+)<', html))
    assert values == {"process-worker": "alive", "process-beat": "down"}
    assert reverse("admin:ops_heartbeat_changelist") in html


# --- labels in words, policy notes for ops -----------------------------------------------


def _headers(html: str) -> list[str]:
    """The change list's column titles (after a sorted column's priority number)."""
    cells = re.findall(r'<th scope="col".*?</th>', html, re.S)
    return [re.sub(r"<[^>]+>", "", h).strip().split("\n")[-1].strip() for h in cells]


def test_list_headers_read_as_words(ops, sample_catalog):
    skus = _headers(ops.get("/admin/inventory/sku/").content.decode())
    assert {"Voice", "SMS", "Fax"} <= set(skus) and "Sms" not in skus
    policies = _headers(ops.get("/admin/inventory/lifecyclepolicy/").content.decode())
    assert {"SKU", "Ported in"} <= set(policies) and "Sku" not in policies
    assert PhoneNumber._meta.get_field("sku").verbose_name == "SKU"
    assert PhoneNumber._meta.get_field("is_ported_in").verbose_name == "ported in"


def test_default_policies_carry_notes_for_ops_and_the_migration_keeps_edited_ones(ops):
    import importlib

    from django.apps import apps

    from inventory.models import LifecyclePolicy

    html = ops.get("/admin/inventory/lifecyclepolicy/").content.decode()
    notes = set(LifecyclePolicy.objects.values_list("notes", flat=True))
    assert "Default: a manual reservation lasts 28 days" in notes
    assert not any(n.startswith(("seeds:", "peer", "B3:", "off;")) for n in notes), notes
    assert "seeds:" not in html

    step = importlib.import_module("inventory.migrations.0014_policy_notes_for_ops")
    lock = LifecyclePolicy.objects.get(cause="lock", country="", sku=None, is_ported_in=None)
    hold = LifecyclePolicy.objects.get(cause="hold", country="", sku=None, is_ported_in=None)
    for policy, note in ((lock, "peer docs"), (hold, "agreed with finance")):  # old default; edited
        policy.notes = note
        policy.save()
    step.notes_for_ops(apps, None)
    lock.refresh_from_db()
    hold.refresh_from_db()
    assert lock.notes == "Default: a lock lasts 28 days"
    assert lock.history.filter(history_change_reason=step.REASON).exists()
    assert hold.notes == "agreed with finance"
