"""In Chromium: the admin login, admin lists and the partner dashboard load under the enforced
Content-Security-Policy with zero violations (each `securitypolicyviolation` event and CSP
console message is recorded), and an injected inline script is refused."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.browser.conftest import browser, login, page  # noqa: F401 - fixtures
from tests.browser.test_dashboard import _leave_the_migrated_rows  # noqa: F401 - autouse fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "browser-csp-pass-5521"
RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  e => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline")
                         + " at " + e.sourceFile + ":" + e.lineNumber));
"""


@pytest.fixture
def watched(page):  # noqa: F811 - the fixture imported above
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(RECORD)

    def violations() -> list[str]:
        return page.evaluate("window.__csp || []") + console

    page.violations = violations
    return page


def test_admin_and_dashboard_pages_have_no_csp_violations(watched, ops_user, partner, customer,
                                                          make_numbers):
    from django.contrib.auth.models import Group

    from subscriptions.models import PartnerMembership

    make_numbers(3, visible_to=partner)
    ops = get_user_model().objects.create_user("csp-ops", password=PASSWORD, is_staff=True)
    ops.groups.add(Group.objects.get(name="Ops"))
    member = get_user_model().objects.create_user("csp-partner", password=PASSWORD)
    PartnerMembership.objects.create(user=member, organization=partner)

    watched.goto("/admin/login/")
    assert watched.violations() == []
    login(watched, "csp-ops", PASSWORD)
    watched.wait_for_selector("#site-name")
    for path in ("/admin/", "/admin/inventory/phonenumber/", "/admin/inventory/phonenumber/?state=reserved",
                 "/admin/inventory/phonenumber/add/", "/admin/subscriptions/subscription/",
                 "/admin/inventory/phonenumber/import/"):
        watched.goto(path)
        watched.wait_for_load_state("load")
        assert watched.violations() == [], path
    # the admin's own scripts ran (the action bar counts the selection)
    watched.goto("/admin/inventory/phonenumber/")
    watched.check("#action-toggle")
    assert "3 of 3 selected" in watched.inner_text(".action-counter")

    watched.context.clear_cookies()
    login(watched, "csp-partner", PASSWORD, url="/accounts/login/")
    watched.wait_for_url("**/partner/**")
    for path in ("/partner/", "/partner/numbers/"):
        watched.goto(path)
        watched.wait_for_load_state("load")
        assert watched.violations() == [], path

    # the recorder works: an inline script injected into the page is refused and recorded
    watched.goto("/partner/")
    watched.evaluate("""() => { const s = document.createElement("script");
                               s.textContent = "window.__ran = 1"; document.body.appendChild(s); }""")
    assert watched.evaluate("window.__ran === undefined")
    assert any("script-src" in v for v in watched.violations())
