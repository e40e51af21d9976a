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

from django.db import connection
from django.db.models import BigIntegerField, BooleanField, F, Func, Q, QuerySet, Value

from subscriptions.models import Organization
from subscriptions.selectors import partner_organizations

from .choices import NUMBER_EVENT_TYPES, SUBSCRIPTION_EVENT_TYPES
from .models import Event

AVAILABLE = "available"  # inventory.choices.NumberState.AVAILABLE, without importing inventory


class FeedCursorUnknown(LookupError):
    """`after` names no event, so it names no place in the feed's order (see `events_for_ops`)."""

    def __init__(self, after: int):
        super().__init__(f"No event has the id {after}: resume from the `next` link, or from the id "
                         "of the last event you processed (0, or no `after`: from the start).")
        self.after = after


def events_for_ops(*, after: int | None = None, types: Iterable[str] | None = None) -> QuerySet[Event]:
    """Every event in the feed's order, from the cursor `after` (an event id; 0 or None: from
    the start); FeedCursorUnknown when no event has that id.

    The order is commit order, as far as a reader can tell it: by writing transaction (`txid`),
    then id. Only events of transactions older than every transaction still running in this
    database are shown (the horizon, below): each transaction below it has ended, so no event
    can later appear before the last one a reader got, and a reader that resumes after the last
    event of its last page misses none. An event waits while an older transaction still runs (a
    long import holds the feed back until it ends: a delay, never a gap). Ids are therefore not
    always increasing along the feed: a consumer resumes from the last event of a page (the
    `next` link), never from the largest id it saw. A transaction's own events are shown to it
    (a service, a test). SQLite runs one writer at a time, so there id order is commit order
    and the feed is by id.
    """
    return _feed(Event.objects.all(), after=after, types=types, scope=None)


def events_for_partner(partner: Organization, *, after: int | None = None,
                       types: Iterable[str] | None = None) -> QuerySet[Event]:
    """The events about the partner's numbers, in the feed's order (`events_for_ops`); one range
    of the (organization, txid, event) index from the cursor."""
    return _feed(Event.objects.all(), after=after, types=types, scope=partner.pk)


class _RowAfter(Func):
    """`(a, b) > (c, d)`: a row comparison, which an index on (a, b) serves as one range."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):
        parts = [compiler.compile(e) for e in self.get_source_expressions()]
        (a, pa), (b, pb), (c, pc), (d, pd) = parts
        return f"({a}, {b}) > ({c}, {d})", (*pa, *pb, *pc, *pd)


# The feed's horizon: the oldest transaction still running, of those that can write to this
# database (a snapshot's in-progress xids, less those seen running in another database: a
# transaction never leaves its database; one not seen at all counts, to be safe), else the
# snapshot's xmax. Every transaction below it has ended: what it wrote is seen by this
# statement and by any later one, so the bound holds for the query that follows. With it, the
# transaction's own id (its own events are shown to it) and the cursor event's txid (ARRAY:
# no row at all is NULL, not a NULL txid).
_HORIZON_SQL = """
SELECT coalesce(
           (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s.snap) AS x
             WHERE x::text::bigint %% 4294967296 NOT IN (
                   SELECT a.backend_xid::text::bigint FROM pg_stat_activity a
                    WHERE a.backend_xid IS NOT NULL
                      AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
           pg_snapshot_xmax(s.snap)::text::bigint),
       pg_current_xact_id_if_assigned()::text::bigint,
       (SELECT ARRAY[e.txid] FROM events_event e WHERE e.id = %s)
  FROM (SELECT pg_current_snapshot() AS snap) AS s
"""


def _feed(qs: QuerySet[Event], *, after: int | None, types: Iterable[str] | None,
          scope: int | None) -> QuerySet[Event]:
    # The partner feed's columns are the scope row's (its index); conditions on a multi-valued
    # relation go in one filter() so that they share one join.
    txid, pk = ("scopes__txid", "scopes__event_id") if scope is not None else ("txid", "id")
    conditions: list = [Q(scopes__organization_id=scope)] if scope is not None else []
    wanted = [t for t in (types or ()) if t]
    if wanted:
        conditions.append(Q(type__in=wanted))
    if connection.vendor != "postgresql":
        if after:
            if not Event.objects.filter(pk=after).exists():
                raise FeedCursorUnknown(after)
            conditions.append(Q(**{f"{pk}__gt": after}))
        return qs.filter(*conditions).order_by(pk)

    with connection.cursor() as cursor:
        cursor.execute(_HORIZON_SQL, [after or 0])
        horizon, own, found = cursor.fetchone()
    visible = Q(**{f"{txid}__lt": horizon})
    if own is not None:
        visible |= Q(**{txid: own})
    conditions.append(visible)
    if after:
        if found is None:
            raise FeedCursorUnknown(after)
        conditions.append(_RowAfter(F(txid), F(pk), Value(found[0], output_field=BigIntegerField()),
                                     Value(after, output_field=BigIntegerField())))
    return qs.filter(*conditions).order_by(txid, pk)


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
