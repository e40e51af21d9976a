"""In Chromium: the admin login, admin lists and the partner dashboard load under the enforced
Content-Security-Policy with zero violations (each `securitypolicyviolation` event and CSP
console message is recorded), and an injected inline script is refused."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, sync_playwright

from tests.browser.conftest import CHROMIUM, login

# The live server needs committed rows; tests/conftest.py puts the shipped rows back after.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "browser-csp-pass-5521"
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  e => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline")
                         + " at " + e.sourceFile + ":" + e.lineNumber));
"""


def in_chromium(base_url: str, steps: Callable[[Page], None]) -> None:
    """Run `steps` on a fresh page that records CSP violations (`page.violations()`).

    In a thread of its own: the browser tests' session-wide Playwright keeps an event loop
    in this thread, and the sync API refuses to start a second one beside it."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                try:
                    page = browser.new_context(base_url=base_url).new_page()
                    page.set_default_timeout(15_000)
                    console: list[str] = []
                    page.on("console", lambda m: console.append(m.text)
                            if "Content Security Policy" in m.text else None)
                    page.add_init_script(RECORD)
                    page.violations = lambda: page.evaluate("window.__csp || []") + console
                    steps(page)
                finally:
                    browser.close()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="csp-browser")
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive(), "the browser steps did not finish in 5 minutes"
    if failure:
        raise failure[0]


def test_admin_dashboard_and_api_docs_pages_have_no_csp_violations(live_server, partner, make_numbers):
    from django.contrib.auth.models import Group

    from subscriptions.models import PartnerMembership

    make_numbers(3, visible_to=partner)
    ops = get_user_model().objects.create_user("csp-ops", password=PASSWORD, is_staff=True)
    ops.groups.add(Group.objects.get(name="Ops"))
    member = get_user_model().objects.create_user("csp-partner", password=PASSWORD)
    PartnerMembership.objects.create(user=member, organization=partner)

    def steps(page: Page) -> None:
        page.goto("/admin/login/")
        assert page.violations() == []
        login(page, "csp-ops", PASSWORD)
        page.wait_for_selector("#site-name")
        for path in ("/admin/", "/admin/inventory/phonenumber/",
                     "/admin/inventory/phonenumber/?state=reserved",
                     "/admin/inventory/phonenumber/add/", "/admin/subscriptions/subscription/",
                     "/admin/inventory/phonenumber/import/"):
            page.goto(path)
            page.wait_for_load_state("load")
            assert page.violations() == [], path
        # the admin's own scripts ran (the action bar counts the selection)
        page.goto("/admin/inventory/phonenumber/")
        page.check("#action-toggle")
        assert "3 of 3 selected" in page.inner_text(".action-counter")

        page.context.clear_cookies()
        login(page, "csp-partner", PASSWORD, url="/accounts/login/")
        page.wait_for_url("**/partner/**")
        for path in ("/partner/", "/partner/numbers/"):
            page.goto(path)
            page.wait_for_load_state("load")
            assert page.violations() == [], path

        # the API docs (Swagger UI from our own static files) run under the same policy
        page.goto("/api/v1/docs/")
        page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)  # the operations rendered
        assert page.violations() == [], "/api/v1/docs/"

        # the recorder works: an inline script injected into the page is refused and recorded
        page.goto("/partner/")
        page.evaluate("""() => { const s = document.createElement("script");
                                   s.textContent = "window.__ran = 1"; document.body.appendChild(s); }""")
        assert page.evaluate("window.__ran === undefined")
        assert any("script-src" in v for v in page.violations())

    in_chromium(live_server.url, steps)
