"""The audit log in Chromium: an ops superuser opens it from the admin index and filters by
user. Saves docs/screenshots/audit-log.png only with UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth import get_user_model

from tests.browser.conftest import SCREENSHOTS, browser, login, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
PASSWORD = "audit-browser-pass-5930"


@pytest.fixture
def audit_world(transactional_db, vendor, sku):
    from inventory.models import LifecyclePolicy

    users = get_user_model().objects
    chief = users.create_superuser("chief", "chief@example.com", PASSWORD)
    mei = users.create_user("mei", "mei@example.com", "x", is_staff=True)
    vendor._history_user, vendor.notes = mei, "Contract renewed"
    vendor.save()
    policy = LifecyclePolicy.objects.get(cause="manual", country="", sku=None, is_ported_in=None)
    policy._history_user, policy._change_reason, policy.period_days = chief, "Sales asked: 3 weeks", 21
    policy.save()
    return {"chief": chief, "mei": mei}


def test_open_the_audit_log_and_filter_by_user(page, audit_world):  # noqa: F811
    login(page, "chief", PASSWORD)
    page.wait_for_url("**/admin/")
    page.click("text=Audit log")
    page.wait_for_selector("#audit-log")
    table = page.locator("#audit-log").inner_text()
    assert "Sales asked: 3 weeks" in table and "Singtel Wholesale" in table

    page.select_option("#id_user", label="mei")
    page.click("#audit-filter-submit")
    page.wait_for_url("**user=*")
    users = page.locator("#audit-log tr.audit-entry td.user").all_inner_texts()
    assert users and set(users) == {"mei"}
    assert "Singtel Wholesale" in page.locator("#audit-log").inner_text()
    page.click("#audit-log tr.audit-entry a.historylink")
    page.wait_for_url("**/inventory/vendor/*/history/")
    assert "Contract renewed" in page.content()

    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.go_back()
        page.wait_for_selector("#audit-log")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "audit-log.png"), full_page=True)
