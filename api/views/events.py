"""The event feed and the webhook endpoints (DESIGN §10): thin adapters over events.selectors
and events.services, as the admin's pages are."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from events.choices import EventType
from events.models import WebhookDelivery, WebhookEndpoint
from events.selectors import (
    FeedCursorUnknown,
    PartnerView,
    event_serialize,
    event_serialize_for_partner,
    events_for_ops,
    events_for_partner,
)
from events.services import (
    webhook_delivery_replay,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from inventory.selectors import partner_of

from .. import examples as ex
from .. import serializers_events as s
from ..idempotency import idempotent
from ..scope import is_partner
from .common import ApiView, BoundedCursorPagination, paginated

# --- the feed ------------------------------------------------------------------------------


class AfterIdPagination:
    """Pages of the feed in its order (commit order: by writing transaction, then id;
    events.selectors): `next` is this request with `after` = the id of the page's last event
    (null once the feed is read to its end); a consumer resumes later from the last event it
    processed. `after` is a place in that order, so it must name an event (0: the start)."""

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {"type": "object", "required": ["next", "results"], "properties": {
            "next": {"type": ["string", "null"], "format": "uri", "example": ex.EVENTS_NEXT,
                     "description": "The next page; null at the end of the feed (poll again later "
                                    "with after = the id of the last event of the last page)"},
            "results": schema}}

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": "after", "in": "query", "required": False,
             "description": "The id of the last event you processed (the last of a page, as in the "
                            "`next` link): the events after it in the feed's order, commit order "
                            "(by writing transaction, then id), so ids are not always increasing; "
                            "resume from the last event of a page, never from the largest id seen. "
                            "0 or absent: from the start. An id that names no event: 400",
             "schema": {"type": "integer", "minimum": 0, "maximum": s.MAX_ID}},
            {"name": "limit", "in": "query", "required": False,
             "description": f"Events per page, 1 to {s.MAX_FEED_PAGE:,} (default 100)",
             "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_FEED_PAGE, "default": 100}},
        ]


TYPES_PARAM = OpenApiParameter(
    "types", OpenApiTypes.STR, many=True, explode=False, enum=EventType.values,
    description="Only these event types, comma-separated (number.reserved,number.released)")


class EventList(ApiView):
    permissions = {"GET": "events.view_event"}
    pagination_class = AfterIdPagination
    extra_errors = {"GET": (400,)}

    @extend_schema(operation_id="events_list", tags=["events"], parameters=[TYPES_PARAM],
                   responses=s.EventOut(many=True),
                   examples=[ex.response("ops key", ex.EVENT),
                             ex.response("partner key",
                                         ex.EVENT_FOR_PARTNER)],
                   summary="The event feed in commit order, from ?after=ID (the last event you "
                           "processed); partner keys: their numbers")
    def get(self, request):
        query = s.EventFeedQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data.get("after"), query.validated_data["limit"]
        types = query.validated_data.get("types")
        try:
            if is_partner(request):
                partner = partner_of(request.user)
                if partner is None:  # a key whose partner membership was removed sees nothing
                    return Response({"next": None, "results": []})
                view = PartnerView.of(partner)
                events = list(events_for_partner(partner, after=after, types=types)[: limit + 1])
                results = [event_serialize_for_partner(e, view=view) for e in events[:limit]]
            else:
                events = list(events_for_ops(after=after, types=types)[: limit + 1])
                results = [event_serialize(e) for e in events[:limit]]
        except FeedCursorUnknown as exc:
            raise exceptions.ValidationError({"after": [str(exc)]}) from exc
        more = len(events) > limit
        next_link = (replace_query_param(request.build_absolute_uri(), "after", results[-1]["id"])
                     if more else None)
        return Response({"next": next_link, "results": results})


# --- webhook endpoints ---------------------------------------------------------------------

class ById(BoundedCursorPagination):
    ordering = "id"


def _endpoints():
    return WebhookEndpoint.objects.select_related("partner")


class _OpsOnly(ApiView):
    partner_allowed = False


class WebhookEndpointList(_OpsOnly):
    permissions = {"GET": "events.view_webhookendpoint", "POST": "events.add_webhookendpoint"}
    pagination_class = ById

    @extend_schema(operation_id="webhook_endpoints_list", tags=["webhooks"],
                   responses=s.WebhookEndpointOut(many=True),
                   examples=[ex.response("page", ex.WEBHOOK_ENDPOINT)],
                   summary="Webhook endpoints (ops keys only); the secrets are never shown here")
    def get(self, request):
        return paginated(self, request, _endpoints(), s.WebhookEndpointOut)

    @extend_schema(operation_id="webhook_endpoints_create", tags=["webhooks"],
                   request=s.WebhookEndpointIn, responses={201: s.WebhookEndpointCreatedOut},
                   examples=[ex.request("billing", {"url": "https://billing.example/hooks/numbers",
                                                    "description": "billing",
                                                    "event_types": ["number.reserved",
                                                                    "number.released"]}),
                             ex.response("created", {**ex.WEBHOOK_ENDPOINT, "secret": ex.SECRET}, 201)],
                   summary="Register an endpoint; the answer holds its signing secret, shown once")
    @idempotent
    def post(self, request):
        body = s.WebhookEndpointIn(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(actor=request.user, **body.validated_data)
        return Response(s.WebhookEndpointCreatedOut(endpoint).data, status=201)


class _OneEndpoint(_OpsOnly):
    def _endpoint(self, endpoint_id: int) -> WebhookEndpoint:
        return get_object_or_404(_endpoints(), pk=endpoint_id)

    def _endpoint_and_body(self, request, endpoint_id: int, serializer) -> tuple[WebhookEndpoint, dict]:
        """The endpoint (404 first) and the checked body (400 naming the fields)."""
        endpoint = self._endpoint(endpoint_id)
        body = serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return endpoint, dict(body.validated_data)


class WebhookEndpointDetail(_OneEndpoint):
    permissions = {"GET": "events.view_webhookendpoint", "PATCH": "events.change_webhookendpoint"}

    @extend_schema(operation_id="webhook_endpoints_retrieve", tags=["webhooks"],
                   responses=s.WebhookEndpointOut, examples=[ex.response("billing", ex.WEBHOOK_ENDPOINT)])
    def get(self, request, endpoint_id: int):
        return Response(s.WebhookEndpointOut(self._endpoint(endpoint_id)).data)

    @extend_schema(operation_id="webhook_endpoints_update", tags=["webhooks"],
                   request=s.WebhookEndpointPatch, responses=s.WebhookEndpointOut,
                   examples=[ex.request("deactivate", {"active": False}),
                             ex.response("deactivated", {**ex.WEBHOOK_ENDPOINT, "active": False,
                                                         "disabled_reason": "deactivated by "
                                                                            "api:provisioning"})],
                   summary="Change the URL, description, event types or active (deactivate, "
                           "not delete)")
    @idempotent
    def patch(self, request, endpoint_id: int):
        endpoint, changes = self._endpoint_and_body(request, endpoint_id, s.WebhookEndpointPatch)
        endpoint = webhook_endpoint_update(endpoint=endpoint, actor=request.user, **changes)
        return Response(s.WebhookEndpointOut(_endpoints().get(pk=endpoint.pk)).data)


class WebhookEndpointRotateSecret(_OneEndpoint):
    permissions = {"POST": "events.rotate_webhookendpoint_secret"}

    @extend_schema(operation_id="webhook_endpoints_rotate_secret", tags=["webhooks"], request=None,
                   responses=s.WebhookSecretOut,
                   examples=[ex.response("rotated", {"secret": ex.SECRET, "previous_secret_valid_until":
                                                     "2026-01-06T08:00:00Z"})],
                   summary="A new signing secret, shown once; the old one signs too until "
                           "previous_secret_valid_until")
    @idempotent
    def post(self, request, endpoint_id: int):
        endpoint = self._endpoint(endpoint_id)
        secret = webhook_endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        endpoint.refresh_from_db(fields=["previous_secret_expires_at"])
        return Response(s.WebhookSecretOut({
            "secret": secret, "previous_secret_valid_until": endpoint.previous_secret_expires_at}).data)


class WebhookEndpointReplay(_OneEndpoint):
    permissions = {"POST": "events.replay_webhookdelivery"}

    @extend_schema(operation_id="webhook_endpoints_replay", tags=["webhooks"],
                   request=s.WebhookReplayIn, responses=s.WebhookReplayOut,
                   examples=[ex.request("since", {"since": "2026-01-05T00:00:00Z"}),
                             ex.request("deliveries", {"deliveries": [101, 102]}),
                             ex.response("queued", {"replayed": 42})],
                   summary="Send again from the first attempt: every wanted event since a time, "
                           "or some deliveries")
    @idempotent
    def post(self, request, endpoint_id: int):
        endpoint, body = self._endpoint_and_body(request, endpoint_id, s.WebhookReplayIn)
        if "since" in body:
            count = webhook_delivery_replay(actor=request.user, endpoint=endpoint, since=body["since"])
        else:
            wanted = set(body["deliveries"])
            deliveries = WebhookDelivery.objects.filter(endpoint=endpoint, pk__in=wanted)
            unknown = sorted(wanted - set(deliveries.values_list("pk", flat=True)))
            if unknown:
                raise exceptions.ValidationError({"deliveries": [
                    f"Not deliveries of this endpoint: {', '.join(map(str, unknown[:20]))}"
                    + (" …" if len(unknown) > 20 else "") + "."]})
            count = webhook_delivery_replay(actor=request.user, deliveries=deliveries)
        return Response({"replayed": count})
