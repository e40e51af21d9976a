"""Browser fixtures for every test folder (a plugin loaded by tests/conftest.py): Playwright
for Python driving Debian's Chromium (never `playwright install`).

Each test gets a live server (pytest-django, in a thread) and a fresh page. Screenshots go to
a temporary folder, so `make test` leaves the tree clean; `UPDATE_SCREENSHOTS=1` writes them to
docs/screenshots/ (the README shows those) instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
# test itself stay synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshot(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Page, str], Path]:
    """`screenshot(page, name)` saves a full-page PNG `name`.png and returns its path.

    Every browser test takes its pictures through this one helper. The folder is this run's
    temporary one (pytest's tmp_path_factory, kept for the last runs) unless UPDATE_SCREENSHOTS=1,
    then docs/screenshots/, the tracked pictures the README shows: refresh them on purpose,
    never as a side effect of running the tests.
    """
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        folder = SCREENSHOTS
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp("screenshots")

    def save(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


def login(page, username: str, password: str, url: str = "/admin/login/") -> None:
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
