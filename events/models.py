"""Domain events (the outbox of changes) and their webhook deliveries.

An `Event` is written by a service inside the transaction of the change it tells, so it
exists exactly when the change does. `EventOrganization` rows say which organizations an
event concerns (the holders before and after, their partners, and the partner an available
number is visible to), so a partner's feed is one indexed equality, portable to SQLite (no
ArrayField).

The pull feed's order is `(txid, id)`: `txid` is the id of the transaction that wrote the
event (PostgreSQL's `pg_current_xact_id()`, 64 bits, never wraps), set by a BEFORE INSERT
trigger (migration 0004) whatever the insert path, and kept on update; `EventOrganization`
carries its event's `txid` the same way. Ids alone come from a sequence at insert time, so a
transaction can take id 50, another id 51 and commit first: paging by id could step past 50
for good. The feed only shows events of transactions older than every one still running
(`events.selectors`), and in `(txid, id)` order nothing can appear behind a page already read.
On SQLite `txid` is NULL: SQLite runs one writer at a time, so there id order is commit order.
Events written before migration 0004 have `txid` 0 (their transactions have all ended).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from .choices import DeliveryStatus, EventType


class Event(models.Model):
    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=40, choices=EventType.choices)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="Empty: the system (beat, automation).",
    )
    actor_name = models.CharField(max_length=150, help_text="The actor's username at the time.")
    remark = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    txid = models.BigIntegerField(
        null=True, blank=True, editable=False,
        help_text="The writing transaction's id (PostgreSQL, set by a trigger); the feed's order "
                  "is (txid, id). Empty on SQLite.")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["type", "id"], name="event_type_id"),
                   models.Index(fields=["txid", "id"], name="event_feed")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type}"

    @property
    def number_count(self) -> int:
        return len(self.data.get("numbers", ()))


class EventOrganization(models.Model):
    """One organization an event concerns: the partner feed's index (organization, txid, event),
    `txid` being the event's own (copied by a trigger on PostgreSQL), so a partner's page is
    one range of it, never a sort of all the partner's events."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="scopes")
    organization = models.ForeignKey(
        "subscriptions.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    txid = models.BigIntegerField(null=True, blank=True, editable=False,
                                  help_text="The event's txid (PostgreSQL, set by a trigger).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "organization"], name="event_organization_once"),
        ]
        indexes = [models.Index(fields=["organization", "txid", "event"], name="event_org_feed_txid")]

    def __str__(self) -> str:
        return f"event {self.event_id} · organization {self.organization_id}"


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Empty: every event type.")
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True)
    partner = models.ForeignKey(
        "subscriptions.Organization", null=True, blank=True, on_delete=models.CASCADE,
        related_name="webhook_endpoints", limit_choices_to={"kind": "partner"},
        help_text="A partner's endpoint receives only events about that partner's numbers.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["secret", "previous_secret"],
                                history_id_field=models.BigAutoField(primary_key=True))

    class Meta:
        ordering = ["url", "id"]
        permissions = [("replay_webhookdelivery", "Can replay webhook deliveries"),
                       ("rotate_webhookendpoint_secret", "Can rotate a webhook endpoint's secret")]

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    """One event owed to one endpoint: pending until delivered, failed or disabled."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Pending: when it is due (or its sender's lease ends).")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once_per_endpoint"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values),
                                   name="delivery_status_valid"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], condition=Q(status="pending"),
                         name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint} · {self.status}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response = models.TextField(blank=True, help_text="The answer's first bytes (1 KB at most).")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} · {self.status_code or self.error[:40]}"
