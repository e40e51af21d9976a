"""Shapes of the event feed and the webhook endpoints (DESIGN §10). The bodies of events are
the events app's own serialisations (`event_serialize`, `event_serialize_for_partner`); the
serializers here describe them for the schema and check what comes in."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from events.choices import EventType
from events.models import WebhookEndpoint
from subscriptions.choices import OrganizationKind
from subscriptions.models import Organization

from .serializers import RO, UuidRef

MAX_ID = 2**63 - 1  # a BigAutoField: beyond it no row exists, and PostgreSQL would refuse the value
MAX_FEED_PAGE = 1000
MAX_REPLAY_DELIVERIES = 10_000


# --- the feed ------------------------------------------------------------------------------

class EventTypesField(serializers.Field):
    """`types=number.reserved,number.released`: comma-separated event types, each known."""

    default_error_messages = {"unknown": "Unknown event type(s): {types}."}

    def to_internal_value(self, data: Any) -> list[str]:
        wanted = [t.strip() for t in str(data).split(",") if t.strip()]
        unknown = sorted({t for t in wanted if t not in EventType.values})
        if unknown:
            self.fail("unknown", types=", ".join(unknown))
        return wanted

    def to_representation(self, value: list[str]) -> str:
        return ",".join(value)


class EventFeedQuery(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, max_value=MAX_ID, required=False)
    types = EventTypesField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_FEED_PAGE, default=100)


class EventOut(serializers.Serializer):
    """One event. Partner keys get only their numbers and never `actor` or `remark`."""

    id = serializers.IntegerField(
        help_text="Unique. The feed is in commit order (by writing transaction, then id), so ids "
                  "are not always increasing along it: resume with ?after=<the id of the last "
                  "event of a page> (the `next` link), never the largest id seen")
    type = serializers.ChoiceField(choices=EventType.choices)
    timestamp = serializers.DateTimeField()
    actor = serializers.CharField(required=False, help_text="Who changed it (ops keys only)")
    remark = serializers.CharField(required=False, allow_blank=True, help_text="Why (ops keys only)")
    data = serializers.DictField(
        help_text="Number events: `numbers` (each with `e164`, `before`, `after`: state, "
                  "organization, subscription, expires_at, reserved_for, visible_to) and "
                  "`count`; subscription events: `subscription`; import.finished: its counts")


# --- webhook endpoints ---------------------------------------------------------------------

def event_types_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices),
                                 help_text="Empty: every event type", **kwargs)


class WebhookEndpointOut(serializers.ModelSerializer):
    partner = serializers.UUIDField(source="partner.uuid", allow_null=True, **RO)
    event_types = event_types_field(**RO)
    previous_secret_valid_until = serializers.DateTimeField(
        source="previous_secret_expires_at", allow_null=True, **RO,
        help_text="After a rotation: until then deliveries carry the old secret's signature too")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "event_types", "active", "disabled_reason", "partner",
                  "previous_secret_valid_until", "created_at", "updated_at"]
        read_only_fields = fields


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    secret = serializers.CharField(**RO, help_text="The signing secret (whsec_…): shown this once")

    class Meta(WebhookEndpointOut.Meta):
        fields = [*WebhookEndpointOut.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookSecretOut(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret (whsec_…): shown this once")
    previous_secret_valid_until = serializers.DateTimeField(
        help_text="Until then the old secret signs every delivery too")


class WebhookEndpointIn(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="https:// and a public address")
    description = serializers.CharField(max_length=200, allow_blank=True, default="")
    event_types = event_types_field(max_length=len(EventType), default=list)
    active = serializers.BooleanField(default=True)
    partner = UuidRef(queryset=Organization.objects.filter(kind=OrganizationKind.PARTNER),
                      required=False, allow_null=True,
                      help_text="A partner's endpoint receives only events about its numbers")


class WebhookEndpointPatch(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, allow_blank=True, required=False)
    event_types = event_types_field(max_length=len(EventType), required=False)
    active = serializers.BooleanField(required=False,
                                      help_text="false disables its pending deliveries (replay brings "
                                                "them back); endpoints are deactivated, not deleted")

    def validate(self, attrs):
        unknown = sorted(set(getattr(self, "initial_data", {}) or {}) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({f: ["Not editable."] for f in unknown})
        if not attrs:
            raise serializers.ValidationError("Give at least one field to change.")
        return attrs


class WebhookReplayIn(serializers.Serializer):
    since = serializers.DateTimeField(required=False,
                                      help_text="Every event since then that the endpoint wants")
    deliveries = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, min_length=1,
        max_length=MAX_REPLAY_DELIVERIES, help_text="Or: these deliveries of the endpoint (ids)")

    def validate(self, attrs):
        if ("since" in attrs) == ("deliveries" in attrs):
            raise serializers.ValidationError("Give either `since` or `deliveries`.")
        return attrs


class WebhookReplayOut(serializers.Serializer):
    replayed = serializers.IntegerField(help_text="Deliveries queued again from their first attempt")
