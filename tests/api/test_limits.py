"""Rate limits per key (API_RATE_LIMIT), 429 with Retry-After."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_rate_limit_per_key(make_key, settings):
    settings.API_RATE_LIMIT = "3/min"
    first, _ = make_key("a", group="Ops")
    second, _ = make_key("b", group="Ops")
    codes = [first.get("/summary/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = first.get("/summary/")
    assert limited["Content-Type"] == "application/problem+json"
    assert 0 < int(limited["Retry-After"]) <= 60
    assert second.get("/summary/").status_code == 200  # another key has its own budget


def test_rate_limit_off(make_key, settings):
    settings.API_RATE_LIMIT = "0"
    api, _ = make_key("a", group="Ops")
    assert all(api.get("/summary/").status_code == 200 for _ in range(5))
