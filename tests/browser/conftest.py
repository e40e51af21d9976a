"""The browser fixtures (`browser`, `page`, `screenshot`) live in tests/browser_support.py, a
plugin the root conftest loads, so every folder shares ONE Chromium launch per session."""

from tests.browser_support import CHROMIUM, login  # noqa: F401  (re-exported for the tests here)
