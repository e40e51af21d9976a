"""`Authorization: Bearer <key>`: the key is checked with djangorestframework-api-key's hashing;
revoked and expired keys are refused. The request then acts as the key's service user."""

from __future__ import annotations

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
        try:
            key = ApiKey.objects.get_from_key(secret)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        if key.has_expired:
            raise exceptions.AuthenticationFailed(f"The API key {key.name} has expired.")
        if not key.user.is_active:
            raise exceptions.AuthenticationFailed(f"The service user of {key.name} is inactive.")
        return key.user, key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
