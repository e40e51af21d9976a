"""Domain events and their webhook deliveries (DESIGN §10).

Writing: `events_emit` is called by the services inside the transaction of the change it
tells (an outbox, like the notices), so an event exists exactly when its change does. One
call writes one event per 1,000 numbers, their `EventOrganization` scope rows (for the
partner feed) and a `WebhookDelivery` per matching active endpoint, all with bulk inserts and
one lookup query per model, whatever the size of the sweep. How a service wires it in::

    before = {n.pk: NumberSnapshot.of(n) for n in numbers}      # before changing them
    ...                                                           # the change, written
    events_emit(type=EventType.NUMBER_RESERVED, actor=actor, remark=remark,
                numbers_before_after=[NumberChange(n.e164, before[n.pk], NumberSnapshot.of(n))
                                      for n in changed])

Sending: `webhook_deliveries_send` claims due deliveries with `skip_locked` and a lease
committed before any request goes out (two senders never hold the same attempt), posts
them signed per Standard Webhooks with a hard per-request deadline and a bounded read,
then records each attempt. At-least-once: a sender that dies after the POST but before the
record leaves the delivery to be retried when its lease ends; consumers deduplicate on
`webhook-id`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from standardwebhooks import Webhook

from subscriptions.models import Organization, Subscription

from .choices import NUMBER_EVENT_TYPES, SUBSCRIPTION_EVENT_TYPES, DeliveryStatus, EventType
from .models import DeliveryAttempt, Event, EventOrganization, WebhookDelivery, WebhookEndpoint
from .selectors import PartnerView, event_serialize, event_serialize_for_partner

logger = logging.getLogger(__name__)

EVENT_MAX_NUMBERS = 1000  # numbers per event: a body stays a few hundred KB at most
LOOKUP_CHUNK = 1000
SEND_BATCH = 100  # deliveries claimed at once; the lease covers their worst case
RESPONSE_MAX_BYTES = 1024
LEASE_MARGIN_SECONDS = 60
USER_AGENT = "numbermgmt-webhooks/1"
URL_MAX_LENGTH = 2000  # WebhookEndpoint.url


# --- what a service passes ---------------------------------------------------------------


class NumberSnapshot(NamedTuple):
    """A number's tenancy at one moment: ids, not objects (resolved to uuids in bulk).

    A tuple, not a dataclass: a sweep hashes and compares a million of them (tuple hashing
    and equality run in C)."""

    state: str
    organization_id: int | None = None
    subscription_id: int | None = None
    expires_at: dt.datetime | None = None
    reserved_for: str = ""
    visible_to_id: int | None = None

    @classmethod
    def of(cls, number) -> NumberSnapshot:
        return cls(state=number.state, organization_id=number.organization_id,
                   subscription_id=number.subscription_id, expires_at=number.expires_at,
                   reserved_for=number.reserved_for or "", visible_to_id=number.visible_to_id)


class NumberChange(NamedTuple):
    """One number in an event: `before` is None for an added number."""

    e164: str
    before: NumberSnapshot | None
    after: NumberSnapshot | None


# What the events take: a NumberChange, or the same three values as a plain tuple (an
# import's million added numbers: a NamedTuple is built in Python, a tuple in C).
Change = tuple[str, NumberSnapshot | None, NumberSnapshot | None]
_E164, _BEFORE, _AFTER = itemgetter(0), itemgetter(1), itemgetter(2)


# --- writing events ----------------------------------------------------------------------


def _actor_fields(actor) -> tuple[int | None, str]:
    if actor is None:
        return None, settings.SYSTEM_USERNAME
    name = actor.get_username()
    return (None if name == settings.SYSTEM_USERNAME else actor.pk), name


def _lookup(model, ids: set[int], *fields: str) -> dict[int, tuple]:
    """One query per LOOKUP_CHUNK distinct ids (a sweep names few organizations). Plain SQL:
    every service call asks (an allocation of one number, twice), and building the ORM's
    query cost more than running it. Values go through each field's to_python, as the ORM's
    (a uuid is a UUID on every database)."""
    found: dict[int, tuple] = {}
    wanted = sorted(i for i in ids if i)
    if not wanted:
        return found
    meta, qn = model._meta, connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    select = ", ".join(qn(f.column) for f in [meta.pk, *columns])
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            cursor.execute(f"SELECT {select} FROM {qn(meta.db_table)} WHERE {qn(meta.pk.column)} "
                           f"IN ({', '.join(['%s'] * len(chunk))})", chunk)
            for pk, *values in cursor.fetchall():
                found[pk] = tuple(f.to_python(v) for f, v in zip(columns, values, strict=True))
    return found


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


class _Numbers:
    """Turns snapshots into event items and scope ids with the organizations looked up once."""

    def __init__(self, changes: Sequence[Change]):
        sides = set(map(_BEFORE, changes)) | set(map(_AFTER, changes))
        sides.discard(None)
        org_ids = {i for s in sides if s is not None for i in (s.organization_id, s.visible_to_id) if i}
        self.orgs = _lookup(Organization, org_ids, "uuid", "parent_id")  # pk → (uuid, parent)
        self.subs = _lookup(Subscription, {s.subscription_id for s in sides if s and s.subscription_id},
                            "uuid")
        self.scopes: dict[NumberSnapshot, frozenset[int]] = {}
        self.side_texts: dict[NumberSnapshot | None, str] = {}

    def _uuid(self, table: dict[int, tuple], pk: int | None) -> str:
        row = table.get(pk) if pk else None
        return f'"{row[0]}"' if row else "null"

    def side_json(self, snap: NumberSnapshot | None) -> str:
        """One side of an item as JSON, spelled once per distinct snapshot (a sweep's numbers
        mostly end alike) and exactly as json.dumps would spell its dict."""
        if snap is None:
            return "null"
        if (known := self.side_texts.get(snap)) is not None:
            return known
        ends = encode_basestring(snap.expires_at.isoformat()) if snap.expires_at else "null"
        text = self.side_texts[snap] = (
            f'{{"state":{encode_basestring(snap.state)},'
            f'"organization":{self._uuid(self.orgs, snap.organization_id)},'
            f'"subscription":{self._uuid(self.subs, snap.subscription_id)},"expires_at":{ends},'
            f'"reserved_for":{encode_basestring(snap.reserved_for)},'
            f'"visible_to":{self._uuid(self.orgs, snap.visible_to_id)}}}')
        return text

    def scope(self, snap: NumberSnapshot | None) -> frozenset[int]:
        """Who sees this side in `numbers_visible_to`: the holder, its partner, and the
        partner an available number is visible to (each distinct side worked out once)."""
        if snap is None:
            return frozenset()
        if (known := self.scopes.get(snap)) is not None:
            return known
        ids: set[int] = set()
        if snap.organization_id:
            ids.add(snap.organization_id)
            parent = self.orgs.get(snap.organization_id, (None, None))[1]
            if parent:
                ids.add(parent)
        if snap.visible_to_id and snap.state == "available":
            ids.add(snap.visible_to_id)
        found = self.scopes[snap] = frozenset(ids)
        return found


def _subscription_data(subscription: Subscription, before: dict | None) -> dict | None:
    """The subscription's public ids and status; None when nothing changed since `before`."""
    after = {"status": subscription.status,
             "current_period_end": _iso(subscription.current_period_end)}
    if before is not None:
        before = {"status": before.get("status"),
                  "current_period_end": _iso(before.get("current_period_end"))
                  if isinstance(before.get("current_period_end"), dt.datetime)
                  else before.get("current_period_end")}
        if before == after:
            return None
    org = Organization.objects.filter(pk=subscription.organization_id).values_list("uuid").first()
    return {"subscription": {"uuid": str(subscription.uuid), "kind": subscription.kind,
                             "organization": str(org[0]) if org else None, **after,
                             "before": before}}


def events_emit(*, type: str, actor, remark: str = "",
                numbers_before_after: Iterable[Change] = (),
                subscription: Subscription | None = None, subscription_before: dict | None = None,
                data: dict | None = None, now: dt.datetime | None = None) -> list[Event]:
    """Write the events of one service call and the deliveries they owe; return the events.

    Number events: one per EVENT_MAX_NUMBERS numbers of `numbers_before_after`, nothing when
    it is empty. Subscription events: `subscription` as it is now and `subscription_before`
    ({status, current_period_end}); nothing when they are equal. Other events (import.finished):
    `data`. Must run inside the caller's transaction (the outbox rule); a send is kicked after
    the commit.
    """
    return events_draft(type=type, actor=actor, remark=remark, numbers_before_after=numbers_before_after,
                        subscription=subscription, subscription_before=subscription_before, data=data,
                        now=now).write()


class EventsDraft:
    """The events of one call, looked up on the caller's connection and encoded, but not yet
    written. With `background`, the number items and their JSON are built in a thread while
    the caller goes on writing its change (an import's COPY): PostgreSQL and Python work at
    once. `write()` (the caller's thread and transaction) waits for them and inserts."""

    def __init__(self, *, type: str, actor, remark: str, now: dt.datetime,
                 build: Callable[[], list[tuple[str, set[int]]]], background: bool):
        self.type, self.remark, self.now = type, remark or "", now
        self.actor_id, self.actor_name = _actor_fields(actor)
        self._pool = ThreadPoolExecutor(max_workers=1) if background else None
        self._bodies = self._pool.submit(build) if self._pool else None
        self._build = build

    def write(self) -> list[Event]:
        """Insert the events, their scope rows and deliveries. On PostgreSQL the returned
        events leave `data` deferred (Django loads it on first use): it was sent as text."""
        if self._pool is not None and self._bodies is not None:
            bodies = self._bodies.result()
            self._pool.shutdown()
        else:
            bodies = self._build()
        if not bodies:
            return []
        events = _events_insert(type=self.type, occurred_at=self.now, actor_id=self.actor_id,
                                actor_name=self.actor_name, remark=self.remark,
                                texts=[text for text, _ in bodies])
        _scopes_insert([(e.pk, org_id) for e, (_, scope) in zip(events, bodies, strict=True)
                        for org_id in sorted(scope)])
        wanting = _endpoints_wanting(self.type)
        deliveries = [
            WebhookDelivery(endpoint_id=endpoint_id, event=event, next_attempt_at=self.now)
            for event, (_, scope) in zip(events, bodies, strict=True)
            for endpoint_id, partner_id in wanting
            if partner_id is None or partner_id in scope
        ]
        if deliveries:
            WebhookDelivery.objects.bulk_create(deliveries, batch_size=LOOKUP_CHUNK)
            kick_send()
        return events


def events_draft(*, type: str, actor, remark: str = "", numbers_before_after: Iterable[Change] = (),
                 subscription: Subscription | None = None, subscription_before: dict | None = None,
                 data: dict | None = None, now: dt.datetime | None = None,
                 background: bool = False) -> EventsDraft:
    """events_emit's events, to `write()` later in the same transaction (see EventsDraft)."""
    if type not in EventType.values:
        raise ValueError(f"unknown event type {type!r}")
    now = now or timezone.now()
    bodies: list[tuple[str, set[int]]] = []  # (data as JSON, organization ids in scope)

    def given() -> list[tuple[str, set[int]]]:
        return bodies

    build = given
    if type in NUMBER_EVENT_TYPES:
        changes = list(numbers_before_after)
        if changes:
            numbers = _Numbers(changes)  # the lookups, on this thread's connection
            extra = dict(data or {})
            if subscription is not None:
                extra["subscription"] = str(subscription.uuid)

            def build() -> list[tuple[str, set[int]]]:
                return [_number_body(numbers, changes[start : start + EVENT_MAX_NUMBERS], extra)
                        for start in range(0, len(changes), EVENT_MAX_NUMBERS)]
    elif type in SUBSCRIPTION_EVENT_TYPES:
        if subscription is None:
            raise ValueError(f"{type} needs the subscription")
        body = _subscription_data(subscription, subscription_before)
        if body is not None:
            org = Organization.objects.filter(pk=subscription.organization_id).values_list(
                "pk", "parent_id").first()
            bodies.append((_json({**(data or {}), **body}), {i for i in (org or ()) if i}))
    elif data:
        bodies.append((_json(dict(data)), set()))
    return EventsDraft(type=type, actor=actor, remark=remark, now=now, build=build,
                       background=background and build is not given)


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


_JSON_SAFE_NUMBERS = re.compile(r"[+0-9]*")


def _number_body(numbers: _Numbers, chunk: Sequence[Change], extra: dict) -> tuple[str, set[int]]:
    """One event's data as JSON text, spelled from each distinct side's JSON (a sweep's or
    an import's numbers mostly share their sides), as json.dumps of the whole body would
    spell it: building a million item dicts and encoding them took most of an import's
    event time. E.164 numbers need no escaping; anything else is encoded."""
    sides = set(map(_BEFORE, chunk)) | set(map(_AFTER, chunk))
    text = {s: numbers.side_json(s) for s in sides}
    number = _json if not _JSON_SAFE_NUMBERS.fullmatch("".join(map(_E164, chunk))) else '"{}"'.format
    items = ",".join([f'{{"e164":{number(e164)},"before":{text[before]},"after":{text[after]}}}'
                      for e164, before, after in chunk])
    head = _json(extra)[:-1] + "," if extra else "{"
    scope: set[int] = set().union(*(numbers.scope(s) for s in sides))
    return f'{head}"numbers":[{items}],"count":{len(chunk)}}}', scope


def _scopes_insert(rows: list[tuple[int, int]]) -> None:
    """The (event id, organization id) scope rows; their txid comes from the trigger. One
    plain statement on PostgreSQL: every service call writes one or two, and the ORM's
    bulk_create cost more than the insert."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        EventOrganization.objects.bulk_create(
            [EventOrganization(event_id=event_id, organization_id=org_id) for event_id, org_id in rows],
            batch_size=LOOKUP_CHUNK)
        return
    table = connection.ops.quote_name(EventOrganization._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (event_id, organization_id) "
                       "SELECT * FROM unnest(%s::bigint[], %s::bigint[])",
                       [[event_id for event_id, _ in rows], [org_id for _, org_id in rows]])


def _endpoints_wanting(type: str) -> list[tuple[int, int | None]]:
    """(id, partner id) of the active endpoints that want `type` (WebhookEndpoint.wants).
    Every service call asks: one plain query, without building the ORM's SQL each time."""
    table = connection.ops.quote_name(WebhookEndpoint._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, partner_id, event_types FROM {table} WHERE active = %s", [True])
        rows = cursor.fetchall()
    wanting = []
    for pk, partner_id, types in rows:
        types = json.loads(types) if isinstance(types, str | bytes) else types
        if not types or type in types:
            wanting.append((pk, partner_id))
    return wanting


def _events_insert(*, type: str, occurred_at: dt.datetime, actor_id: int | None, actor_name: str,
                   remark: str, texts: list[str]) -> list[Event]:
    """Insert the events of one call (one type, time, actor and remark; `texts`: each one's
    data as JSON), ids in list order. `txid`, the feed's order, is set by the database (a
    trigger on PostgreSQL, migration 0004: this transaction's id; NULL on SQLite), never
    here. PostgreSQL: one statement, the bodies sent as one text[] parameter apart from the
    SQL (server-side binding); Django's multi-row insert would escape them element by
    element (a regex over every '"': 20 s for a 100,000-number sweep)."""
    if connection.vendor != "postgresql" or not texts:
        return Event.objects.bulk_create([
            Event(type=type, occurred_at=occurred_at, actor_id=actor_id, actor_name=actor_name,
                  remark=remark, data=json.loads(text)) for text in texts], batch_size=1)
    import psycopg

    sql = ("INSERT INTO events_event (type, occurred_at, actor_id, actor_name, remark, data) "
           "SELECT %s, %s, %s, %s, %s, v.data::jsonb FROM unnest(%s::text[]) WITH ORDINALITY "
           "AS v(data, n) ORDER BY v.n RETURNING id, txid")
    # One escape pass over all bodies: \x01 never occurs in JSON text (json.dumps spells
    # control characters as \u0001), so it stands for the separators until the end.
    literal = '{"' + "\x01".join(texts).replace("\\", "\\\\").replace('"', '\\"').replace(
        "\x01", '","') + '"}'
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, [type, occurred_at, actor_id, actor_name, remark, literal])
        rows = sorted(cursor.fetchall())  # (id, txid); nextval in ORDER BY n order
    names = ["id", "type", "occurred_at", "actor_id", "actor_name", "remark", "txid"]
    return [Event.from_db(connection.alias, names, (pk, type, occurred_at, actor_id, actor_name,
                                                    remark, txid)) for pk, txid in rows]


# --- endpoints ---------------------------------------------------------------------------


def webhook_secret_generate() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _address_refusal(host: str, addresses: Iterable[str], *, allow_private: bool) -> str | None:
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if ip.is_unspecified or ip.is_multicast:
            return f"{host} resolves to {ip}, which cannot receive webhooks"
        if allow_private or ip.is_global:
            continue
        kind = ("a loopback" if ip.is_loopback else "a link-local" if ip.is_link_local
                else "a private" if ip.is_private else "a non-public")
        return (f"{host} resolves to {ip}, {kind} address: refused "
                "(WEBHOOK_ALLOW_PRIVATE=1 allows it, for tests and labs only)")
    return None


def _resolve(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def webhook_url_validate(url: str) -> str:
    """The URL as stored, or a ValidationError on `url` saying why it may not receive events.

    https only (plain http when DEBUG or WEBHOOK_ALLOW_PRIVATE=1); no credentials in it; the
    host must resolve, and to public addresses only unless WEBHOOK_ALLOW_PRIVATE=1. The
    sender checks the addresses again at every delivery (DNS may have changed since).
    """
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE
    text = (url or "").strip()

    def refuse(reason: str) -> ValidationError:
        return ValidationError({"url": f"{text or '(empty)'}: {reason}"})

    parts = urlsplit(text)
    if parts.scheme not in {"https", "http"}:
        raise refuse("must be an https:// URL")
    if parts.scheme == "http" and not (settings.DEBUG or allow_private):
        raise refuse("must use https (plain http only with DEBUG or WEBHOOK_ALLOW_PRIVATE=1)")
    if not parts.hostname:
        raise refuse("has no host")
    if parts.username is not None or parts.password is not None:
        raise refuse("must not carry a user name or password (the signature authenticates)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise refuse("has an invalid port") from None
    try:
        addresses = _resolve(parts.hostname, port)
    except (OSError, UnicodeError):
        raise refuse(f"host {parts.hostname} does not resolve") from None
    if reason := _address_refusal(parts.hostname, addresses, allow_private=allow_private):
        raise refuse(reason)
    if len(text) > URL_MAX_LENGTH:
        raise refuse("is too long")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _event_types_validate(event_types: Iterable[str]) -> list[str]:
    wanted = sorted({str(t).strip() for t in event_types if str(t).strip()})
    unknown = [t for t in wanted if t not in EventType.values]
    if unknown:
        raise ValidationError({"event_types": f"unknown event type(s): {', '.join(unknown)}"})
    return wanted


def _save(endpoint: WebhookEndpoint, *, actor, reason: str) -> None:
    # simple-history reads these for the history row
    endpoint._history_user = actor  # type: ignore[attr-defined]
    endpoint._change_reason = reason  # type: ignore[attr-defined]
    endpoint.save()


def _disable_pending(endpoint: WebhookEndpoint, reason: str) -> int:
    return endpoint.deliveries.filter(status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.DISABLED, last_error=reason[:2000], next_attempt_at=None)


def webhook_endpoint_create(*, url: str, actor, description: str = "",
                            event_types: Iterable[str] = (), partner: Organization | None = None,
                            active: bool = True) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (show `endpoint.secret` to its creator, once)."""
    if partner is not None and not partner.is_partner:
        raise ValidationError({"partner": f"{partner.name} is not a partner"})
    endpoint = WebhookEndpoint(
        url=webhook_url_validate(url), description=description.strip(),
        event_types=_event_types_validate(event_types), active=active, partner=partner,
        secret=webhook_secret_generate(), created_by=actor,
    )
    _save(endpoint, actor=actor, reason="created")
    return endpoint


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, actor, url: str | None = None,
                            description: str | None = None, event_types: Iterable[str] | None = None,
                            active: bool | None = None) -> WebhookEndpoint:
    """Change an endpoint. Deactivating disables its pending deliveries (a replay brings
    them back); reactivating clears the reason it was disabled."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if url is not None and url.strip() != endpoint.url:
            endpoint.url = webhook_url_validate(url)
        if description is not None:
            endpoint.description = description.strip()
        if event_types is not None:
            endpoint.event_types = _event_types_validate(event_types)
        if active is not None and active != endpoint.active:
            endpoint.active = active
            if active:
                endpoint.disabled_reason = ""
            else:
                who = actor.get_username() if actor else settings.SYSTEM_USERNAME
                endpoint.disabled_reason = f"deactivated by {who}"
                _disable_pending(endpoint, endpoint.disabled_reason)
        _save(endpoint, actor=actor, reason="updated")
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor,
                                   now: dt.datetime | None = None) -> str:
    """A new secret; the old one keeps signing too (both signatures are sent) for
    WEBHOOK_SECRET_OVERLAP_HOURS, so the receiver can switch without losing a delivery."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + dt.timedelta(
            hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
        endpoint.secret = webhook_secret_generate()
        _save(endpoint, actor=actor, reason="secret rotated")
    return endpoint.secret


def webhook_endpoint_secrets(endpoint: WebhookEndpoint, *, now: dt.datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous during its overlap."""
    found = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and \
            endpoint.previous_secret_expires_at > now:
        found.append(endpoint.previous_secret)
    return found


# --- replay ------------------------------------------------------------------------------


def webhook_delivery_replay(*, actor, deliveries: QuerySet[WebhookDelivery] | None = None,
                            endpoint: WebhookEndpoint | None = None, since: dt.datetime | None = None,
                            now: dt.datetime | None = None) -> int:
    """Send deliveries again from their first attempt; returns how many are queued.

    Either `deliveries` (any status; those of inactive endpoints are skipped) or `endpoint`
    and `since`: every event since then that the endpoint wants, including those it never
    had a delivery for (it was inactive, or wanted other types then).
    """
    now = now or timezone.now()
    replayed = {"status": DeliveryStatus.PENDING, "attempts": 0, "next_attempt_at": now,
                "last_error": "", "replayed_at": now, "replayed_by": actor}
    with transaction.atomic():
        if deliveries is not None:
            count = deliveries.filter(endpoint__active=True).update(**replayed)
        else:
            if endpoint is None or since is None:
                raise ValueError("replay needs deliveries, or an endpoint and a time")
            endpoint = WebhookEndpoint.objects.get(pk=endpoint.pk)
            if not endpoint.active:
                raise ValidationError({"endpoint": f"{endpoint} is inactive: activate it first"})
            events = Event.objects.filter(occurred_at__gte=since)
            if endpoint.event_types:
                events = events.filter(type__in=endpoint.event_types)
            if endpoint.partner_id:
                events = events.filter(scopes__organization_id=endpoint.partner_id)
            count = endpoint.deliveries.filter(event__in=events).update(**replayed)
            missing: list[WebhookDelivery] = []
            have = endpoint.deliveries.values("event_id")
            for event_id in events.exclude(pk__in=have).values_list("pk", flat=True).iterator(
                    chunk_size=LOOKUP_CHUNK):
                missing.append(WebhookDelivery(endpoint=endpoint, event_id=event_id, **replayed))
                if len(missing) >= LOOKUP_CHUNK:
                    count += len(WebhookDelivery.objects.bulk_create(missing, ignore_conflicts=True))
                    missing = []
            count += len(WebhookDelivery.objects.bulk_create(missing, ignore_conflicts=True))
        if count:
            kick_send()
    logger.info("%s replayed %d webhook deliveries", actor, count)
    return count


# --- sending -----------------------------------------------------------------------------


def retry_schedule() -> list[int]:
    return [int(s) for s in settings.WEBHOOK_RETRY_SCHEDULE]


def _timeout() -> float:
    return float(settings.WEBHOOK_TIMEOUT_SECONDS)


@dataclass(slots=True)
class _Outgoing:
    delivery: WebhookDelivery
    url: str
    body: bytes
    headers: dict[str, str]
    status_code: int | None = None
    response: str = ""
    error: str = ""
    duration_ms: int = 0
    at: dt.datetime = field(default_factory=timezone.now)


class _Refused(Exception):
    """The endpoint's host now resolves to an address it may not use (DNS rebinding)."""


def _claim(*, now: dt.datetime, limit: int) -> tuple[list[WebhookDelivery], dt.datetime]:
    """Lock due deliveries other senders do not hold and lease them past their worst case.

    The lease (`next_attempt_at` moved ahead) commits before any request goes out, so no
    other sender takes these rows meanwhile, and a sender that dies leaves them to be
    retried once it runs out.
    """
    concurrency = max(int(settings.WEBHOOK_SEND_CONCURRENCY), 1)
    waves = -(-limit // concurrency)
    lease = now + dt.timedelta(seconds=waves * (_timeout() + 1) + LEASE_MARGIN_SECONDS)
    with transaction.atomic():
        rows = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__active=True)
            .select_related("endpoint", "event")
            .order_by("next_attempt_at", "pk")[:limit]
        )
        if rows:
            WebhookDelivery.objects.filter(pk__in=[r.pk for r in rows]).update(next_attempt_at=lease)
    return rows, lease


def _payloads(rows: Sequence[WebhookDelivery], now: dt.datetime) -> list[_Outgoing]:
    views: dict[int, PartnerView] = {}
    signed_at = dt.datetime.now(tz=dt.UTC)  # the receiver checks it against its clock
    out = []
    for delivery in rows:
        endpoint, event = delivery.endpoint, delivery.event
        partner_id = endpoint.partner_id
        if partner_id is not None:
            if partner_id not in views:  # one look-up per partner and batch
                views[partner_id] = PartnerView.of(Organization.objects.get(pk=partner_id))
            body = event_serialize_for_partner(event, view=views[partner_id])
        else:
            body = event_serialize(event)
        text = json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)
        msg_id = f"evt_{event.pk}"
        signatures = " ".join(Webhook(secret).sign(msg_id, signed_at, text)
                              for secret in webhook_endpoint_secrets(endpoint, now=now))
        out.append(_Outgoing(delivery=delivery, url=endpoint.url, body=text.encode(), headers={
            "content-type": "application/json", "user-agent": USER_AGENT,
            "accept-encoding": "identity", "webhook-id": msg_id,
            "webhook-timestamp": str(int(signed_at.timestamp())), "webhook-signature": signatures,
        }))
    return out


async def _post(item: _Outgoing, poster: _Poster, *, allow_private: bool) -> None:
    """POST to the address checked now (pinned: no second lookup), reading 1 KB at most."""
    parts = urlsplit(item.url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    addresses = await poster.resolve(host, port)
    if reason := _address_refusal(host, addresses, allow_private=allow_private):
        raise _Refused(reason)
    ip = ipaddress.ip_address(addresses[0].split("%", 1)[0])
    netloc = (f"[{ip}]" if ip.version == 6 else str(ip)) + (f":{parts.port}" if parts.port else "")
    url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    client = poster.client((parts.scheme, host, port))
    headers = {**item.headers, "host": parts.netloc}
    extensions = {"sni_hostname": host} if https else {}
    async with client.stream("POST", url, content=item.body, headers=headers,
                             extensions=extensions) as response:
        item.status_code = response.status_code
        received = bytearray()
        async for chunk in response.aiter_raw():
            received += chunk
            if len(received) >= RESPONSE_MAX_BYTES:
                break
    item.response = bytes(received[:RESPONSE_MAX_BYTES]).decode("utf-8", "replace")


_SSL_CONTEXT = None


def _ssl_context():
    """One verifying TLS context per process: building one loads the CA bundle (~70 ms)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        import ssl

        import certifi

        _SSL_CONTEXT = ssl.create_default_context(cafile=certifi.where())
    return _SSL_CONTEXT


class _Poster:
    """One event loop and one connection pool per host for a whole send run (keep-alive)."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.clients: dict[tuple, httpx.AsyncClient] = {}
        self.resolved: dict[tuple, asyncio.Future] = {}

    def client(self, key: tuple) -> httpx.AsyncClient:
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = httpx.AsyncClient(
                timeout=httpx.Timeout(_timeout()), follow_redirects=False, trust_env=False,
                verify=_ssl_context(),
                limits=httpx.Limits(max_connections=max(int(settings.WEBHOOK_SEND_CONCURRENCY), 1)))
        return client

    def post_all(self, items: list[_Outgoing]) -> None:
        self.resolved = {}  # looked up again for every batch: a changed address is seen
        self.runner.run(self._post_all(items))

    async def resolve(self, host: str, port: int) -> list[str]:
        key = (host, port)
        if key not in self.resolved:
            self.resolved[key] = asyncio.ensure_future(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM))
        infos = await asyncio.shield(self.resolved[key])
        return sorted({str(info[4][0]) for info in infos})

    async def _post_all(self, items: list[_Outgoing]) -> None:
        timeout = _timeout()
        allow_private = bool(settings.WEBHOOK_ALLOW_PRIVATE)
        gate = asyncio.Semaphore(max(int(settings.WEBHOOK_SEND_CONCURRENCY), 1))

        async def one(item: _Outgoing) -> None:
            async with gate:
                item.at = timezone.now()
                start = time.perf_counter()
                try:  # the deadline covers everything: lookup, connect, a slow or dripping answer
                    await asyncio.wait_for(_post(item, self, allow_private=allow_private), timeout)
                except TimeoutError:
                    if item.status_code is None:
                        item.error = f"no answer within {timeout:g} s"
                    else:  # the status counts; the rest of a dripping body is not waited for
                        item.error = f"answer body not complete within {timeout:g} s (status counted)"
                except _Refused as exc:
                    item.error = str(exc)
                except Exception as exc:  # noqa: BLE001 - any failure is this attempt's, retried
                    item.error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
                item.duration_ms = int((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(one(item) for item in items))

    def close(self) -> None:
        async def close_all() -> None:
            for client in self.clients.values():
                await client.aclose()

        try:
            self.runner.run(close_all())
        finally:
            self.runner.close()


def _record(items: list[_Outgoing], *, lease: dt.datetime, now: dt.datetime) -> int:
    """Log every attempt; move the deliveries still under this sender's lease on."""
    steps = retry_schedule()
    delivered = 0
    gone: dict[int, _Outgoing] = {}
    with transaction.atomic():
        DeliveryAttempt.objects.bulk_create([
            DeliveryAttempt(delivery=i.delivery, at=i.at, status_code=i.status_code,
                            duration_ms=i.duration_ms, response=i.response, error=i.error[:2000])
            for i in items
        ])
        ours = set(WebhookDelivery.objects.select_for_update().filter(
            pk__in=[i.delivery.pk for i in items], status=DeliveryStatus.PENDING,
            next_attempt_at=lease).values_list("pk", flat=True))
        changed = []
        for item in items:
            delivery = item.delivery
            if delivery.pk not in ours:
                continue  # replayed or re-taken meanwhile: the newer state wins
            delivery.attempts += 1
            delivery.last_status_code = item.status_code
            code = item.status_code
            if code is not None and 200 <= code < 300:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.DELIVERED, None
                delivery.delivered_at, delivery.last_error = now, ""
                delivered += 1
            elif code == 410:
                gone[delivery.endpoint_id] = item
                delivery.status, delivery.next_attempt_at = DeliveryStatus.DISABLED, None
                delivery.last_error = "the receiver answered 410 Gone: endpoint disabled"
            else:
                delivery.last_error = (item.error or f"answered HTTP {code}")[:2000]
                if delivery.attempts <= len(steps):
                    delivery.next_attempt_at = now + dt.timedelta(seconds=steps[delivery.attempts - 1])
                else:
                    delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            changed.append(delivery)
        # Outcomes repeat (a batch mostly succeeds alike): one UPDATE per distinct outcome,
        # cheaper than bulk_update's CASE per row and field.
        alike: dict[tuple, list[int]] = {}
        for d in changed:
            alike.setdefault((d.status, d.attempts, d.next_attempt_at, d.last_status_code,
                              d.last_error, d.delivered_at), []).append(d.pk)
        for (status, attempts, next_at, code, error, delivered_at), ids in alike.items():
            WebhookDelivery.objects.filter(pk__in=ids).update(
                status=status, attempts=attempts, next_attempt_at=next_at, last_status_code=code,
                last_error=error, delivered_at=delivered_at)
        for endpoint_id, item in gone.items():
            _endpoint_gone(endpoint_id, url=item.url, now=now)
    return delivered


def _endpoint_gone(endpoint_id: int, *, url: str, now: dt.datetime) -> None:
    """A 410 says the receiver is gone for good: stop the endpoint and what it still owes."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    if not endpoint.active:
        return
    endpoint.active = False
    endpoint.disabled_reason = f"{url} answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC"
    _save(endpoint, actor=None, reason="disabled: 410 Gone")
    _disable_pending(endpoint, endpoint.disabled_reason)
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)


def webhook_deliveries_send(*, now: dt.datetime | None = None, limit: int = 2000) -> int:
    """Send due deliveries (up to `limit`); returns how many were delivered.

    Safe to run in parallel: each batch is claimed with `skip_locked` and leased first. 2xx
    = delivered; 410 = endpoint disabled with its pending deliveries; anything else (other
    codes, redirects, timeouts, refused addresses) retried after WEBHOOK_RETRY_SCHEDULE's
    next step, then failed (replayable from the admin).
    """
    explicit = now
    delivered = handled = 0
    poster = _Poster()
    try:
        while handled < limit:
            now = explicit or timezone.now()
            rows, lease = _claim(now=now, limit=min(SEND_BATCH, limit - handled))
            if not rows:
                break
            items = _payloads(rows, now)
            poster.post_all(items)
            delivered += _record(items, lease=lease, now=explicit or timezone.now())
            handled += len(rows)
    finally:
        poster.close()
    return delivered


def webhook_seconds_until_next(*, now: dt.datetime | None = None) -> float | None:
    """When the soonest pending delivery is due (None: nothing waits). The task uses it."""
    now = now or timezone.now()
    soonest = (WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, endpoint__active=True)
               .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())
    if soonest is None:
        return None
    return max((soonest - now).total_seconds(), 0.0)


def kick_send() -> None:
    """Ask a worker to send soon (best effort, after the commit; beat drains what is missed)."""
    from notifications.outbox import enqueue_best_effort

    from .tasks import webhook_deliveries_send_task

    enqueue_best_effort(webhook_deliveries_send_task)
