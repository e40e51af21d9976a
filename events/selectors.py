"""Reads of the event log: the ops feed, the partner feed, and their serialisations.

A partner sees an event when it concerns one of the numbers `numbers_visible_to` gives that
partner — held by the partner or one of its customers, or available and visible to it —
at the time of the change (the `EventOrganization` rows written with the event). Within such
an event it sees only those numbers, and of each side (before/after) that is not its own only
the state: never a remark, an actor's name, or another organization's or subscription's id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from subscriptions.models import Organization
from subscriptions.selectors import partner_organizations

from .choices import NUMBER_EVENT_TYPES, SUBSCRIPTION_EVENT_TYPES
from .models import Event

AVAILABLE = "available"  # inventory.choices.NumberState.AVAILABLE, without importing inventory


def events_for_ops(*, after: int | None = None, types: Iterable[str] | None = None) -> QuerySet[Event]:
    """Every event, oldest first, from the cursor `after` (an event id)."""
    return _filtered(Event.objects.all(), after=after, types=types)


def events_for_partner(partner: Organization, *, after: int | None = None,
                       types: Iterable[str] | None = None) -> QuerySet[Event]:
    """The events about the partner's numbers, oldest first; one indexed (organization, event) scan."""
    return _filtered(Event.objects.filter(scopes__organization_id=partner.pk), after=after, types=types)


def _filtered(qs: QuerySet[Event], *, after: int | None, types: Iterable[str] | None) -> QuerySet[Event]:
    if after is not None:
        qs = qs.filter(pk__gt=after)
    wanted = [t for t in (types or ()) if t]
    if wanted:
        qs = qs.filter(type__in=wanted)
    return qs.order_by("pk")


def event_serialize(event: Event) -> dict:
    """The ops body (webhooks of ops endpoints, the ops feed): everything the event holds."""
    return {
        "id": event.pk,
        "type": event.type,
        "timestamp": event.occurred_at.isoformat(),
        "actor": event.actor_name,
        "remark": event.remark,
        "data": event.data,
    }


@dataclass(frozen=True, slots=True)
class PartnerView:
    """What a partner may recognise: its own uuid and those of its organizations and
    their subscriptions (the latter are checked through the organization of the side)."""

    partner_uuid: str
    organization_uuids: frozenset[str]

    @classmethod
    def of(cls, partner: Organization) -> PartnerView:
        uuids = frozenset(str(u) for u in partner_organizations(partner).values_list("uuid", flat=True))
        return cls(partner_uuid=str(partner.uuid), organization_uuids=uuids)

    def sees(self, side: dict | None) -> bool:
        if not side:
            return False
        return side.get("organization") in self.organization_uuids or (
            side.get("state") == AVAILABLE and side.get("visible_to") == self.partner_uuid)

    def side(self, side: dict | None) -> dict | None:
        if side is None or self.sees(side):
            return side
        return {"state": side.get("state"), "organization": None, "subscription": None,
                "expires_at": None, "reserved_for": "", "visible_to": None}


def event_serialize_for_partner(event: Event, *, view: PartnerView) -> dict:
    """The partner-safe body: its numbers only, other holders blanked, no remark or actor."""
    data = event.data
    if event.type in NUMBER_EVENT_TYPES:
        numbers = [
            {"e164": item["e164"], "before": view.side(item.get("before")),
             "after": view.side(item.get("after"))}
            for item in data.get("numbers", ())
            if view.sees(item.get("before")) or view.sees(item.get("after"))
        ]
        safe: dict = {"numbers": numbers, "count": len(numbers)}
    elif event.type in SUBSCRIPTION_EVENT_TYPES:
        subscription = data.get("subscription") or {}
        safe = ({"subscription": subscription}
                if subscription.get("organization") in view.organization_uuids else {})
    else:  # import.finished and anything else: ops only, nothing of it leaves
        safe = {}
    return {"id": event.pk, "type": event.type, "timestamp": event.occurred_at.isoformat(),
            "data": safe}
