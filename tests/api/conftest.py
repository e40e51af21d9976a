"""API fixtures: keys made the way an operator makes them (api_key_create), and a client
that sends them as `Authorization: Bearer <key>`."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.keys import api_key_create


class Api:
    """A thin client: api.get("/numbers/"), api.post("/numbers/actions/reserve/", {...})."""

    def __init__(self, secret: str | None):
        self.client = APIClient()
        if secret:
            self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def _url(self, path: str) -> str:
        return path if path.startswith("/api/") else f"/api/v1{path}"

    def get(self, path: str, params: dict | None = None, headers: dict | None = None):
        return self.client.get(self._url(path), params or {}, headers=headers)

    def post(self, path: str, data=None, *, format: str = "json", headers: dict | None = None):
        return self.client.post(self._url(path), data, format=format, headers=headers)

    def patch(self, path: str, data=None, headers: dict | None = None):
        return self.client.patch(self._url(path), data, format="json", headers=headers)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits and refused-key counts live in the cache: each test starts from none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_key(db):
    def make(name: str = "billing", **kwargs) -> tuple[Api, object]:
        if not kwargs:
            kwargs = {"group": "Ops"}
        key, secret = api_key_create(name=name, **kwargs)
        return Api(secret), key

    return make


@pytest.fixture
def ops(make_key) -> Api:
    return make_key("provisioning", group="Ops")[0]


@pytest.fixture
def partner_api(make_key, partner) -> Api:
    return make_key("acme-portal", partner=partner.domain)[0]


@pytest.fixture
def anonymous() -> Api:
    return Api(None)


def url_e164(e164: str) -> str:
    return e164.replace("+", "%2B")
