"""The ops admin in Chromium: sign in, reserve through the form, read the history, see a
refusal and its reason, add a range, search by pattern. Saves the README's screenshots."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.browser.conftest import login

PASSWORD = "ops-browser-pass-4821"
CL = "/admin/inventory/phonenumber/"


@pytest.fixture
def ops_world(transactional_db, vendor, sku):
    """An ops user with the Ops permissions, two customers, a service and some numbers."""
    from inventory.services import number_add, number_assign, number_lock, number_reserve
    from subscriptions.models import Organization, Subscription

    # The "Ops" group is put back by tests/conftest.py after flushes of earlier tests.
    user = get_user_model().objects.create_user("olivia", "olivia@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Ops"))
    partner = Organization.objects.create(name="Acme Telecom", kind="partner", domain="acme.example")
    harbour = Organization.objects.create(name="Harbour Logistics", kind="customer", parent=partner)
    clinics = Organization.objects.create(name="Lion City Clinics", kind="customer", parent=partner)
    service = Subscription.objects.create(organization=clinics, kind="service", plan="Cloud PBX")
    numbers = number_add(numbers="+6560000000-+6560000011", vendor=vendor, sku=sku, actor=user,
                         tags="batch-1").done
    number_reserve(numbers=numbers[8:10], organization=clinics, actor=user, remark="Clinics pilot",
                   reserved_for="dr.tan")
    number_assign(numbers=numbers[10:11], subscription=service, actor=user, remark="go live")
    number_lock(numbers=numbers[11:12], actor=user, remark="port-out dispute")
    return {"user": user, "harbour": harbour, "clinics": clinics, "numbers": numbers}


def sign_in(page):
    login(page, "olivia", PASSWORD)
    page.wait_for_url("**/admin/")


def run_action(page, numbers, action: str):
    for number in numbers:
        page.check(f"input.action-select[value='{number.pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_selector("#action-form")


def message_text(page) -> str:
    return page.locator("ul.messagelist").inner_text()


def test_reserve_two_numbers_through_the_form(page, ops_world, screenshot):
    sign_in(page)
    page.goto(CL)
    page.click("#state-tabs >> text=Available")
    page.wait_for_url(re.compile(r".*state=available.*"))
    two = ops_world["numbers"][:2]
    run_action(page, two, "reserve")
    assert "Reserve 2 numbers" in page.locator("#action-count").inner_text()
    page.fill("#id_f-organization", str(ops_world["harbour"].uuid))
    page.fill("#id_f-reserved_for", "mei.lin")
    page.fill("#id_f-remark", "Harbour rollout, phase 1")
    page.click("input[name=apply]")
    page.wait_for_selector("ul.messagelist")
    assert "Reserve: 2 done, 0 refused." in message_text(page)

    page.click("#state-tabs >> text=Reserved")
    page.wait_for_url(re.compile(r".*state=reserved.*"))
    table = page.locator("#result_list").inner_text()
    for number in two:
        assert number.e164 in table
    assert "Harbour Logistics" in table and "mei.lin" in table and "Lion City Clinics" in table
    # Only the moves that start from "reserved" are offered here.
    options = page.locator("select[name=action] option").all_inner_texts()
    assert any("Release" in o for o in options) and not any(o.startswith("Lock") for o in options)
    page.click("#toggle-nav-sidebar")  # more room for the columns
    screenshot(page, "admin-reserved-tab")


def test_history_shows_who_when_and_the_remark(page, ops_world, screenshot):
    number = ops_world["numbers"][8]  # reserved for Clinics, with a remark
    sign_in(page)
    page.goto(f"{CL}?q={number.e164.replace('+', '%2B')}")
    page.click(f"#result_list >> text={number.e164}")
    page.wait_for_selector("#number-history")
    assert "Clinics pilot" in page.locator("#number-history").inner_text()
    assert "Lion City Clinics" in page.locator("#reservations-group").inner_text()
    page.click("text=full history")
    page.wait_for_url(re.compile(r".*/history/$"))
    history = page.locator("#change-history").inner_text()
    assert "Clinics pilot" in history and "olivia" in history
    assert re.search(r"State:\s*Available\s*→\s*Reserved", history)
    screenshot(page, "admin-number-history")


def test_a_refused_action_shows_its_reason(page, ops_world):
    numbers = ops_world["numbers"]
    sign_in(page)
    page.goto(CL)  # All tab: every action is offered, the service decides per number
    run_action(page, [numbers[0], numbers[9]], "reserve")
    page.fill("#id_f-organization", str(ops_world["harbour"].uuid))
    page.fill("#id_f-remark", "try both")
    page.click("input[name=apply]")
    page.wait_for_selector("ul.messagelist")
    text = message_text(page)
    assert "Reserve: 1 done, 1 refused." in text
    assert f"{numbers[9].e164}: already reserved by Lion City Clinics" in text


def test_a_bad_uuid_is_explained_on_the_form(page, ops_world):
    sign_in(page)
    page.goto(f"{CL}?state=available")
    run_action(page, ops_world["numbers"][:1], "assign")
    page.fill("#id_f-subscription", "12345")
    page.fill("#id_f-remark", "x")
    page.click("input[name=apply]")
    assert "is not a uuid" in page.locator("#action-form").inner_text()


def test_add_a_range(page, ops_world, vendor, sku):
    from inventory.models import PhoneNumber

    sign_in(page)
    page.goto(CL)
    page.click(".object-tools >> text=Add number")
    page.wait_for_selector("#add-numbers-form")
    page.fill("#id_numbers", "+6560000100-+6560000149\n+6560000000")
    page.select_option("#id_vendor", label=vendor.name)
    page.select_option("#id_sku", label=sku.code)
    page.fill("#id_tags", "batch-2")
    page.click("input[name=preview]")
    page.wait_for_selector("#add-preview")
    assert "50 numbers will be created" in page.locator("#preview-create").inner_text()
    assert "+6560000000" in page.locator("#preview-existing").inner_text()
    page.click("input[name=confirm]")
    page.wait_for_selector("ul.messagelist")
    assert "Add numbers: 50 done, 1 refused." in message_text(page)
    assert PhoneNumber.objects.filter(tags=";batch-2;").count() == 50


def test_search_by_pattern(page, ops_world):
    sign_in(page)
    page.goto(CL)
    page.fill("#searchbar", "*0005")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r".*q=.*"))
    rows = page.locator("#result_list tbody tr").all_inner_texts()
    assert len(rows) == 1 and "+6560000005" in rows[0]
    page.fill("#searchbar", "+65600000?1")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    numbers = re.findall(r"\+\d{10}", page.locator("#result_list").inner_text())
    assert numbers == ["+6560000001", "+6560000011"]
