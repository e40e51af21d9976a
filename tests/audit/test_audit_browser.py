"""The audit log in Chromium: an ops superuser opens it from the admin index and filters by
user. Saves docs/screenshots/audit-log.png only with UPDATE_SCREENSHOTS=1.

Chromium is launched as tests/browser/conftest.py does, but in a thread of its own: a
Playwright sync instance cannot start in a thread where another one (tests/browser's
session-wide browser, in whichever order the files run) is alive."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.browser.conftest import CHROMIUM, SCREENSHOTS, login

pytestmark = pytest.mark.browser
PASSWORD = "audit-browser-pass-5930"
DEADLINE_SECONDS = 120


def in_chromium(base_url: str, flow: Callable) -> None:
    """Run `flow(page)` in a fresh Chromium in its own thread; re-raise what it raised."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    errors: list[BaseException] = []

    def run() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--no-first-run", "--disable-sync"],
                )
                try:
                    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=base_url)
                    page = context.new_page()
                    page.set_default_timeout(15_000)
                    flow(page)
                finally:
                    browser.close()
        except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
            errors.append(exc)

    thread = threading.Thread(target=run, name="audit-chromium", daemon=True)
    thread.start()
    thread.join(DEADLINE_SECONDS)
    assert not thread.is_alive(), f"the browser flow did not finish within {DEADLINE_SECONDS} s"
    if errors:
        raise errors[0]


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


def test_open_the_audit_log_and_filter_by_user(live_server, audit_world):
    def flow(page) -> None:
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
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "audit-log.png"), full_page=True)
        page.click("#audit-log tr.audit-entry a.historylink")
        page.wait_for_url("**/inventory/vendor/*/history/")
        assert "Contract renewed" in page.content()

    in_chromium(live_server.url, flow)
