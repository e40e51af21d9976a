"""`Authorization: Bearer <key>`: the key is checked with djangorestframework-api-key's hashing;
revoked and expired keys are refused. The request then acts as the key's service user.

Key guessing is throttled like password guessing (django-axes on the login pages): after
API_KEY_FAILURE_LIMIT refused keys from one address within API_KEY_COOLOFF_SECONDS, every key
check from that address answers 429 with Retry-After until the cool-off has passed; never a
permanent lock. The count lives in Django's cache (Redis when REDIS_URL is set)."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework_api_key.permissions import KeyParser

from .models import ApiKey


class BearerKeyParser(KeyParser):
    keyword = "Bearer"


class BearerApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"
    parser = BearerKeyParser()

    def authenticate(self, request):
        secret = self.parser.get(request)
        if not secret:
            return None
        failures = _failures_key(request)
        cooloff = int(settings.API_KEY_COOLOFF_SECONDS)
        if cache.get(failures, 0) >= int(settings.API_KEY_FAILURE_LIMIT):
            raise exceptions.Throttled(wait=cooloff, detail=(
                "Too many refused API keys from this address; try again after the cool-off."))
        try:
            key = ApiKey.objects.get_from_key(secret)
        except ApiKey.DoesNotExist:
            cache.add(failures, 0, timeout=cooloff)
            try:
                cache.incr(failures)
            except ValueError:  # expired between add and incr
                cache.set(failures, 1, timeout=cooloff)
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        if key.has_expired:
            raise exceptions.AuthenticationFailed(f"The API key {key.name} has expired.")
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed(f"The service user of {key.name} is inactive.")
        return key.user, key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


def _failures_key(request) -> str:
    return f"api-key-failures:{request.META.get('REMOTE_ADDR', '')}"
