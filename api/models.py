"""API keys (hashed by djangorestframework-api-key) and the idempotency records of their writes."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager


class ApiKeyKind(models.TextChoices):
    OPS = "ops", "Ops (acts as its service user)"
    PARTNER = "partner", "Partner (read-only, the partner's numbers)"


class ApiKeyManager(APIKeyManager):
    def get_usable_keys(self) -> models.QuerySet:
        return super().get_usable_keys().select_related("user")


class ApiKey(AbstractAPIKey):
    """One integration's key. Every key acts as its own service user (`api:<name>`): an ops
    key through that user's groups and permissions, a partner key through the user's partner
    membership, so the API asks the same permission and scope questions as the admin and the
    dashboard do, and the history names the key."""

    objects = ApiKeyManager()

    name = models.CharField(max_length=50, help_text="The integration, e.g. billing.")
    kind = models.CharField(max_length=16, choices=ApiKeyKind.choices)
    # A name reused after a revocation reuses its service user: the history stays one actor.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="api_keys", editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=Q(revoked=False),
                                    name="api_key_name_unique_while_usable"),
        ]

    @property
    def is_partner(self) -> bool:
        return self.kind == ApiKeyKind.PARTNER


class IdempotencyRecord(models.Model):
    """A POST or PATCH sent with an Idempotency-Key. Inserted "running" in its own short
    transaction (the unique constraint turns a concurrent twin into a 409), completed in the
    same transaction as the change it answers, replayed for 24 hours."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # null: still running
    body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_unique_per_api_key"),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id} · {self.key}"
