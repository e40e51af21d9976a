"""The partner dashboard on a phone (390×844, Chromium): nothing scrolls sideways, the chart
shows the whole month with its busiest day, and a number's page fits.

The Chromium is tests/browser's own `browser` fixture (Debian's Chromium through Playwright,
never `playwright install`). Screenshots go to a temporary folder unless UPDATE_SCREENSHOTS=1,
then to docs/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from partners.views import number_url
from tests.partners.conftest import PASSWORD

PHONE = {"width": 390, "height": 844}
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread

# The live server needs committed data: a transactional test. The root conftest's _shipped_rows
# puts back the rows the migrations ship (policies, groups) for whatever test runs next.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERFLOW_JS = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
WIDEST_JS = """() => {
  const limit = document.documentElement.clientWidth;
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > limit + 0.5 && e.getClientRects().length)
    .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
}"""


@pytest.fixture
def phone(request: pytest.FixtureRequest, live_server: Any) -> Iterator[Any]:
    chromium = request.getfixturevalue("browser")  # tests/browser_support.py, the one launch
    context = chromium.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def busy_world(world: Any, make_numbers: Any, make_subscription: Any, ops_user: Any, now: dt.datetime
               ) -> Any:
    """The partners world plus reservations ending on many days (the busiest one late in the
    month, where a 560 px chart used to hide it on a phone), a long customer name, and a
    charged reservation with a long timeline."""
    from inventory.services import number_extend, number_reserve, number_update_attributes
    from subscriptions.models import Organization

    long_name = Organization.objects.create(
        name="Marina Bay Logistics and Cold Chain International Holdings", kind="customer",
        parent=world.partner, billing_email="ops@marina.example")
    pool = make_numbers(60, start="+6560003000", tags="campaign-2026-q4-singapore-east")
    for i in range(12):  # reserved i days ago: ends 28 - i days from now (manual policy)
        chunk = pool[i * 3:i * 3 + 1 + i % 3]
        number_reserve(numbers=chunk, organization=long_name if i % 2 else world.customer,
                       actor=ops_user, remark="spread", now=now - dt.timedelta(days=i))
    # The busiest day: 20 reservations ending in 27 days (made yesterday).
    number_reserve(numbers=pool[36:56], organization=long_name, actor=ops_user, remark="peak",
                   now=now - dt.timedelta(days=1), reserved_for="someone.with.a.very.long.username")
    number = world.ours_reserved[0]
    did = make_subscription(world.customer, kind="did_reservation",
                            plan="DID reservation — premium golden range, 12 months")
    number_extend(numbers=[number], did_reservation=did, actor=ops_user, now=now)
    for k in range(4):
        number_update_attributes(numbers=[number], actor=ops_user, remark=f"tags {k}",
                                 changes={"tags": [f"a-rather-long-tag-number-{k}-for-wrapping", "vip"]})
    world.busy_number = number
    return world


def login(page: Any, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url("**/partner/")


def assert_fits(page: Any, where: str) -> None:
    scroll_width, client_width = page.evaluate(OVERFLOW_JS)
    assert client_width == PHONE["width"], where
    assert scroll_width <= client_width, (where, scroll_width, page.evaluate(WIDEST_JS))


def test_the_dashboard_fits_a_phone(phone: Any, busy_world: Any, screenshot: Callable) -> None:
    login(phone, busy_world.user.username)
    assert_fits(phone, "/partner/")
    # The chart is scaled into the screen: the whole month, the busiest bar included, is on it.
    chart = phone.locator("svg.chart")
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    peak = phone.locator("svg.chart .bar-peak rect.bar-reserved")
    assert peak.count() == 1
    peak_box = peak.bounding_box()
    assert box["x"] <= peak_box["x"] and peak_box["x"] + peak_box["width"] <= box["x"] + box["width"]
    assert phone.evaluate("(() => { const w = document.querySelector('.chart-wrap');"
                          " return w.scrollWidth - w.clientWidth; })()") <= 0
    assert "Lock" not in phone.locator(".panel-head", has=phone.locator("#chart-title")).inner_text()
    screenshot(phone, "partner-phone-summary")

    phone.goto("/partner/numbers/")
    assert_fits(phone, "/partner/numbers/")
    phone.click("details#filters > summary")
    assert_fits(phone, "/partner/numbers/ with the filters open")
    states = phone.locator("input[name=state]")
    assert [states.nth(i).get_attribute("value") for i in range(states.count())] == \
        ["available", "reserved", "assigned", "hold"]  # a held number is still the partner's
    screenshot(phone, "partner-phone-numbers")

    phone.goto(number_url(busy_world.busy_number.e164))
    assert phone.locator("h1").inner_text() == busy_world.busy_number.e164
    screenshot(phone, "partner-phone-number")
    assert_fits(phone, "a number's page")
    history = phone.locator("section[aria-labelledby=res-title] .table-wrap")
    assert history.evaluate("w => w.scrollWidth - w.clientWidth") <= 0  # fits, no inner scroll
    charged = phone.locator("section[aria-labelledby=res-title]").inner_text()
    assert "Beta Customer · DID reservation — premium golden range, 12 months" in charged
