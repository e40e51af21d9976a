"""Rate limits per API key (`API_RATE_LIMIT`, e.g. "1000/min"; "0" = off)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self) -> str | None:
        rate = str(getattr(settings, "API_RATE_LIMIT", "") or "0").strip()
        return None if rate in ("0", "") else rate

    def get_cache_key(self, request, view) -> str | None:
        key = request.auth
        if key is None or not hasattr(key, "prefix"):
            return None  # no key: the 401 comes first
        return self.cache_format % {"scope": self.scope, "ident": key.pk}
