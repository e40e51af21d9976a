"""The audit log in Chromium: an ops superuser opens it from the admin index and filters by
user. The page and the screenshot helper are the shared browser fixtures (tests/browser_support.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.browser_support import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
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


def test_open_the_audit_log_and_filter_by_user(page, screenshot, audit_world):
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
    assert "Sales asked" not in page.locator("#audit-log").inner_text()
    screenshot(page, "audit-log")
    page.click("#audit-log tr.audit-entry a.historylink")
    page.wait_for_url("**/inventory/vendor/*/history/")
    assert "Contract renewed" in page.content()

