"""The partner dashboard in Chromium: sign in, look at the summary, filter, open a number, export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.browser.conftest import login

PASSWORD = "browser-pass-7310"
# The live server needs committed data (a transactional test); the root conftest puts the
# migrated rows back after the flush that ends each one.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dashboard_world(vendor, sku):
    """A partner with three customers and numbers in every state, ends spread over a month."""
    from inventory.services import number_add, number_assign, number_lock, number_reserve
    from subscriptions.models import Organization, PartnerMembership, Subscription

    now = timezone.now()
    partner = Organization.objects.create(name="Acme Telecom", kind="partner",
                                          owner_email="o@acme.example", domain="acme.example")
    other = Organization.objects.create(name="Rival Partner", kind="partner")
    customers = [Organization.objects.create(name=name, kind="customer", parent=partner)
                 for name in ("Harbour Logistics", "Lion City Clinics", "Orchard Retail")]
    rival_customer = Organization.objects.create(name="Rival Customer", kind="customer", parent=other)
    subs = [Subscription.objects.create(organization=c, kind="service", plan=plan,
                                        current_period_end=now + dt.timedelta(days=30))
            for c, plan in zip(customers, ("SIP Trunk 30", "Cloud PBX", "Contact Centre"), strict=True)]
    ops = get_user_model().objects.create_user("ops-browser", is_staff=True)

    def add(spec, **attrs):
        return number_add(numbers=spec, vendor=vendor, sku=sku, actor=ops,
                          now=now - dt.timedelta(days=90), **attrs).done

    offered = add("+6560010000-+6560010039", visible_to=partner)
    golden = add("+6560018888-+6560018889", visible_to=partner, is_golden=True, tags="premium")
    pool = add("+6560020000-+6560020179", tags="batch-7")
    rival = add("+6560030000-+6560030009", visible_to=other)
    add("+6560040000-+6560040004", visible_to=partner)  # locked below: not in scope
    for i, chunk in enumerate(range(0, 120, 4)):
        # Reservations made on different days end on different days of the coming month.
        number_reserve(numbers=pool[chunk:chunk + 4][: 1 + i % 4], organization=customers[i % 3],
                       actor=ops, remark="rollout", reserved_for=f"user{i}" if i % 5 == 0 else None,
                       now=now - dt.timedelta(days=27 - i % 28, hours=i))
    number_reserve(numbers=pool[120:126], organization=partner, actor=ops, remark="stock",
                   now=now - dt.timedelta(days=10))
    for k in range(3):
        number_reserve(numbers=pool[130 + 10 * k:140 + 10 * k], organization=customers[k],
                       actor=ops, remark="r", now=now - dt.timedelta(days=2))
        number_assign(numbers=pool[130 + 10 * k:140 + 10 * k], subscription=subs[k], actor=ops,
                      remark="live")
    number_reserve(numbers=rival, organization=rival_customer, actor=ops, remark="rival")
    number_lock(numbers=list(add("+6560050000")), actor=ops, remark="lock")
    user = get_user_model().objects.create_user("anna", "anna@acme.example", PASSWORD)
    PartnerMembership.objects.create(user=user, organization=partner)
    return {"partner": partner, "customers": customers, "offered": offered + golden,
            "rival": rival, "user": user}


def test_partner_signs_in_filters_opens_a_number_and_exports(page, dashboard_world, screenshot):
    login(page, "anna", PASSWORD, url="/accounts/login/")
    page.wait_for_url("**/partner/")
    assert page.locator("h1").inner_text() == "Overview"
    assert "Acme Telecom" in page.locator(".brand").inner_text()
    reserved_card = page.locator(".stat-reserved .stat-value").inner_text()
    assert int(reserved_card.replace(",", "")) > 0
    assert page.locator("svg.chart rect.bar-reserved").count() > 5
    assert "Rival" not in page.content()
    screenshot(page, "dashboard-summary")

    # Filter: reserved numbers of one customer.
    page.click("nav.mainnav >> text=Numbers")
    page.wait_for_url("**/partner/numbers/")
    page.check("input[name=state][value=reserved]")
    page.select_option("select[name=customer]", label="Harbour Logistics")
    page.click("#filter-form button[type=submit]")
    page.wait_for_url("**/partner/numbers/?*state=reserved*")
    rows = page.locator("#numbers-table tbody tr")
    shown = [rows.nth(i).locator("td").first.locator("a").inner_text() for i in range(rows.count())]
    assert shown and all(page.locator("#numbers-table tbody .state-reserved").count() == len(shown)
                         for _ in [0])
    assert "Harbour Logistics" in page.locator("#numbers-table").inner_text()
    assert "Lion City Clinics" not in page.locator("#numbers-table").inner_text()
    screenshot(page, "dashboard-numbers")

    # Export exactly what is filtered.
    with page.expect_download() as download_info:
        page.click("#export-csv")
    text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    exported = [row["Number"] for row in csv.DictReader(io.StringIO(text))]
    assert exported == shown
    assert {row["Held by"] for row in csv.DictReader(io.StringIO(text))} == {"Harbour Logistics"}

    # Open a number: its reservation and its timeline.
    page.click(f"#numbers-table a:text-is('{shown[0]}')")
    page.wait_for_url("**/partner/numbers/%2B*/")
    assert page.locator("h1").inner_text() == shown[0]
    assert "Harbour Logistics" in page.locator("section[aria-labelledby=res-title]").inner_text()
    assert page.locator("ol.timeline > li").count() >= 1
    assert "rollout" not in page.content()  # ops' remark is not shared
    screenshot(page, "dashboard-number")

    # Another partner's number is a 404 even when typed in.
    rival = dashboard_world["rival"][0].e164
    assert page.goto(f"/partner/numbers/%2B{rival[1:]}/").status == 404


def test_dashboard_on_a_phone(browser, live_server, dashboard_world, screenshot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url,
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    try:
        login(page, "anna", PASSWORD, url="/accounts/login/")
        page.wait_for_url("**/partner/")
        # Nothing wider than the screen: the page never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "dashboard-phone")
        page.goto("/partner/numbers/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator("#numbers-table th.opt").first.is_hidden()
        # The table's essential columns fit the phone: no sideways scrolling inside it either.
        assert page.evaluate("(() => { const w = document.querySelector('.results .table-wrap');"
                             " return w.scrollWidth - w.clientWidth; })()") <= 0
        # Filters start folded on a phone; unfolding them works.
        assert not page.locator("#filter-form").is_visible()
        page.click("details#filters > summary")
        assert page.locator("#filter-form").is_visible()
        screenshot(page, "dashboard-phone-numbers")
    finally:
        context.close()


def test_sign_out_and_password_change(page, dashboard_world):
    login(page, "anna", PASSWORD, url="/accounts/login/")
    page.wait_for_url("**/partner/")
    page.click("details.usermenu summary")
    page.click("text=Change password")
    page.fill("input[name=old_password]", PASSWORD)
    page.fill("input[name=new_password1]", "a-new-secret-9931")
    page.fill("input[name=new_password2]", "a-new-secret-9931")
    page.click("form.stack button[type=submit]")
    assert page.locator("h1").inner_text() == "Password changed"
    page.click("details.usermenu summary")
    page.click("text=Log out")
    page.wait_for_url("**/accounts/login/")
    login(page, "anna", "a-new-secret-9931", url="/accounts/login/")
    page.wait_for_url("**/partner/")
