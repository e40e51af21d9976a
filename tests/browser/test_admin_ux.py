"""The ops admin as a new ops user meets it (issue 13), in Chromium: act from a number's page,
the overview's figures lead to their lists, an XLSX export a person opens, a phone's width.
Saves the README's screenshots of the overview and of a number's page with its actions."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from tests.browser.conftest import CL, login
from tests.browser.test_admin import message_text, pick, sign_in


def test_act_from_a_numbers_page(page, ops_world, screenshot):
    from inventory.models import PhoneNumber

    number = ops_world["numbers"][3]
    sign_in(page)
    page.goto(f"{CL}{number.pk}/change/")
    actions = page.locator("#number-actions")
    assert "Available" in actions.inner_text()
    offered = actions.locator("button").all_inner_texts()
    assert "Lock…" in offered and "Reserve…" in offered and "Release…" not in offered
    assert "danger-button" in actions.locator("button[data-action=delete_numbers]").get_attribute("class")
    screenshot(page, "admin-number-actions")

    actions.locator("button[data-action=lock]").click()
    page.wait_for_selector("#action-form")
    assert "Lock 1 number" in page.locator("#action-count").inner_text()
    page.fill("#id_f-remark", "fraud check")
    page.click("input[name=apply]")
    page.wait_for_url(re.compile(rf".*/{number.pk}/change/$"))  # back on the number
    assert re.search(r"Locked 1 number until \d+ \w{3} \d{4}", message_text(page))
    assert PhoneNumber.objects.get(pk=number.pk).state == "locked"
    assert "Unlock…" in page.locator("#number-actions button").all_inner_texts()
    # The history link is readable: not the header's own colour.
    link = page.locator("#number-history h2 a")
    header = page.locator("#number-history h2")
    assert link.evaluate("e => getComputedStyle(e).textDecorationLine") == "underline"
    assert link.evaluate("e => getComputedStyle(e).color") != \
        header.evaluate("e => getComputedStyle(e).backgroundColor")


def test_swap_out_from_an_assigned_numbers_page(page, ops_world):
    """B3's swap: the replacement is picked by typing, assigned to the same subscription, and
    the old number stays reserved for the organization (1 day); a refused replacement says why."""
    from inventory.models import PhoneNumber

    old, golden, new = ops_world["numbers"][10], ops_world["numbers"][5], ops_world["numbers"][4]
    PhoneNumber.objects.filter(pk=golden.pk).update(is_golden=True)  # test set-up, no service move
    sign_in(page)
    for replacement, refused in ((golden, True), (new, False)):
        page.goto(f"{CL}{old.pk}/change/")
        page.locator("#number-actions button[data-action=swap]").click()
        page.wait_for_selector("#action-form")
        pick(page, "id_f-new", replacement.e164[:-1], replacement.e164)
        page.fill("#id_f-remark", "customer asked for a nicer number")
        page.click("input[name=apply]")
        page.wait_for_load_state("load")
        text = page.locator("body").inner_text()
        if refused:
            assert "golden" in text.lower()  # an available golden number is sold only reserved
            assert PhoneNumber.objects.get(pk=old.pk).state == "assigned"
    old.refresh_from_db()
    new.refresh_from_db()
    from subscriptions.models import Subscription

    assert (new.state, new.subscription) == ("assigned", Subscription.objects.get(plan="Cloud PBX"))
    assert old.state == "reserved" and old.organization == ops_world["clinics"]
    assert old.subscription_id is None


def test_release_confirmation_names_the_holder_with_a_red_button(page, ops_world):
    numbers = ops_world["numbers"][8:10]  # reserved for Lion City Clinics
    sign_in(page)
    page.goto(f"{numbers[0].pk}/change/".join([CL, ""]))
    page.locator("#number-actions button[data-action=release]").click()
    page.wait_for_selector("#action-form")
    panel = page.locator("#action-count")
    assert "Lion City Clinics" in page.locator("#action-holders").inner_text()
    assert panel.evaluate("e => e.classList.contains('errornote')") is False
    button = page.locator("input[name=apply]")
    assert button.evaluate("e => getComputedStyle(e).backgroundColor") in ("rgb(186, 33, 33)",
                                                                           "rgb(164, 29, 29)")


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", stdout=io.StringIO())


def test_overview_counts_link_to_the_right_lists(page, demo, screenshot):
    from inventory.models import PhoneNumber
    from notifications.models import Notice

    assert Notice.objects.filter(status="pending").exists()  # seed_demo queued them at once
    login(page, "ops", "ops")
    page.wait_for_url("**/admin/")
    overview = page.locator("#ops-overview")
    assert "Django administration" not in page.title() and "numbermgmt" in page.title()
    screenshot(page, "admin-overview")
    for state in ("reserved", "locked", "hold", "deleted"):
        card = overview.locator(f"a[data-figure=state-{state}]")
        shown = card.locator(".value").inner_text().lstrip("~").replace(",", "")
        assert int(shown) == PhoneNumber.objects.filter(state=state).count(), state
        card.click()
        page.wait_for_url(re.compile(rf".*state={state}.*"))
        assert page.locator("#state-tabs a.active").get_attribute("data-state") == state
        paginator = page.locator("p.paginator").inner_text()
        assert re.search(rf"\b{int(shown):,}\b|\b{shown}\b", paginator), paginator
        page.go_back()
    ending = overview.locator("a[data-figure=ending-reserved]")
    expected = int(ending.locator(".value").inner_text().replace(",", ""))
    assert expected > 0  # seed_demo reserved some 24 days ago
    ending.click()
    page.wait_for_url(re.compile(r".*expires_at__lt=.*"))
    assert page.locator("#result_list tbody tr").count() == min(expected, 100)
    page.go_back()
    notices = overview.locator("a[data-figure=notices-pending]")
    assert int(notices.locator(".value").inner_text().replace(",", "")) > 0
    notices.click()
    page.wait_for_url(re.compile(r".*/notifications/notice/\?status__exact=pending"))


def test_xlsx_export_has_a_frozen_bold_header_and_text_numbers(page, ops_world):
    from openpyxl import load_workbook

    sign_in(page)
    page.goto(f"{CL}?state=reserved")
    with page.expect_download() as download:
        page.click("#export-xlsx-link")
    with open(download.value.path(), "rb") as handle:  # Playwright's file has no .xlsx suffix
        sheet = load_workbook(io.BytesIO(handle.read())).active
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:")
    numbers = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in numbers] == [n.e164 for n in ops_world["numbers"][8:10]]
    assert all(c.data_type == "s" and c.number_format == "@" for c in numbers)
    header = [c.value for c in sheet[1]]
    assert sheet.cell(row=2, column=header.index("expires_at") + 1).is_date


def test_changelist_on_a_phone_does_not_scroll_sideways(browser, live_server, ops_world, screenshot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url,
                                  is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        sign_in(phone)
        phone.goto(f"{CL}?state=reserved")
        phone.wait_for_selector("#result_list")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        # The result table scrolls inside its own box (documented), the page does not.
        results = phone.locator("#changelist .results")
        assert results.evaluate("e => getComputedStyle(e).overflowX") == "auto"
        assert "+6560000008" in phone.locator("#result_list").inner_text()
        screenshot(phone, "admin-phone-reserved")
    finally:
        context.close()
