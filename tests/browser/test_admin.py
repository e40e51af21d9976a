"""The ops admin in Chromium: sign in, reserve through the form, read the history, see a
refusal and its reason, add a range, search by pattern. Saves the README's screenshots."""

from __future__ import annotations

import re

from tests.browser.conftest import CL, PASSWORD, login


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


def pick(page, select_id: str, typed: str, choice: str) -> None:
    """Choose in an admin autocomplete (select2) by typing, as a person does."""
    page.click(f"#{select_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", typed)
    page.click(f".select2-results__option:has-text('{choice}')")


def test_reserve_two_numbers_through_the_form(page, ops_world, screenshot):
    sign_in(page)
    page.goto(CL)
    page.click("#state-tabs >> text=Available")
    page.wait_for_url(re.compile(r".*state=available.*"))
    two = ops_world["numbers"][:2]
    run_action(page, two, "reserve")
    assert "Reserve 2 numbers" in page.locator("#action-count").inner_text()
    pick(page, "id_f-organization", "Harbour", "Harbour Logistics")  # typed, never a uuid
    page.fill("#id_f-reserved_for", "mei.lin")
    page.fill("#id_f-remark", "Harbour rollout, phase 1")
    page.click("input[name=apply]")
    page.wait_for_selector("ul.messagelist")
    assert re.search(r"Reserved 2 numbers for Harbour Logistics until \d+ \w{3} \d{4} — view them",
                     message_text(page))
    page.click("ul.messagelist >> text=view them")  # exactly those two
    page.wait_for_url(re.compile(r".*id__in=.*"))
    assert page.locator("#result_list tbody tr").count() == 2

    page.goto(f"{CL}?state=reserved")
    table = page.locator("#result_list").inner_text()
    for number in two:
        assert number.e164 in table
    assert "Harbour Logistics" in table and "mei.lin" in table and "Lion City Clinics" in table
    # Only the moves that start from "reserved" are offered here.
    options = page.locator("select[name=action] option").all_inner_texts()
    assert any("Release" in o for o in options) and not any(o.startswith("Lock") for o in options)
    # At 1,400 px every column fits, the navigation sidebar open: ends and days left too.
    for column in ("ends", "days_left"):
        box = page.locator(f"#result_list th.column-{column}").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1400, column
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
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
    pick(page, "id_f-organization", "harbour", "Harbour Logistics")
    page.fill("#id_f-remark", "try both")
    page.click("input[name=apply]")
    page.wait_for_selector("ul.messagelist")
    success = page.locator("ul.messagelist li.success").inner_text()
    warning = page.locator("ul.messagelist li.warning")
    assert "Reserved 1 number for Harbour Logistics" in success and "refused" not in success
    assert "Reserve: 1 number refused" in warning.inner_text()
    assert f"{numbers[9].e164}: already reserved by Lion City Clinics" in warning.inner_text()
    # The refused number's row is a plain list item: no success tick, no message background.
    item = warning.locator("ul.refusals li").first
    assert item.evaluate("e => getComputedStyle(e).backgroundImage") == "none"
    warning.locator("text=view them").click()
    page.wait_for_url(re.compile(r".*e164__in=.*"))
    assert page.locator("#result_list tbody tr").all_inner_texts()[0].strip().startswith(numbers[9].e164)
    assert page.locator("#result_list tbody tr").count() == 1


def test_a_missing_choice_is_explained_on_the_form(page, ops_world):
    sign_in(page)
    page.goto(f"{CL}?state=available")
    run_action(page, ops_world["numbers"][:1], "assign")
    page.click("#id_f-subscription + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", "no such customer")
    page.wait_for_selector(".select2-results__message")  # "No results found"
    page.keyboard.press("Escape")
    page.fill("#id_f-remark", "x")
    page.click("input[name=apply]")
    assert "This field is required" in page.locator("#action-form").inner_text()


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
    assert "Added 50 numbers" in message_text(page)
    assert "Add numbers: 1 number refused" in page.locator("ul.messagelist li.warning").inner_text()
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
