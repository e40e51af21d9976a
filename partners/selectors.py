"""The partner dashboard's reads. Every one is scoped by inventory.selectors.numbers_visible_to.

The dashboard writes nothing: this module imports no service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from inventory.choices import NumberState
from inventory.models import PhoneNumber, Reservation, Sku
from inventory.selectors import numbers_visible_to, partner_of, scope_parts
from subscriptions.models import Organization, Subscription
from subscriptions.selectors import partner_organizations

# The states a number in a partner's scope can be in. The scope is "held by the partner or a
# customer, or available and offered to it", and the services clear the holder when a number
# becomes available, cooling or locked (a lock starts from available and has no holder), and
# a deleted number starts from available or locked. So locked, cooling and deleted numbers are
# never in scope: the dashboard neither counts nor filters by them. (tests/partners checks this
# against the services.)
OUT_OF_SCOPE_STATES = frozenset({NumberState.LOCKED, NumberState.COOLING, NumberState.DELETED})
PARTNER_STATES: tuple[NumberState, ...] = tuple(
    s for s in NumberState if s not in OUT_OF_SCOPE_STATES
)

TIMELINE_FIELDS: dict[str, str] = {
    # history field → label shown to partners. Remarks, notes, routing, vendor and user names
    # are ops-only and never leave these selectors.
    "state": "State",
    "organization_id": "Held by",
    "subscription_id": "Subscription",
    "reserved_for": "Reserved for",
    "expires_at": "Ends",
    "sku_id": "SKU",
    "voice": "Voice",
    "sms": "SMS",
    "fax": "Fax",
    "is_golden": "Golden",
    "is_ported_in": "Ported in",
    "tags": "Tags",
}


def _ending(now: dt.datetime, end: dt.datetime) -> Q:
    """Reservations in scope ending in [now, end). Locks are never in scope (PARTNER_STATES)."""
    return Q(state=NumberState.RESERVED, expires_at__gte=now, expires_at__lt=end)


def _day_of(now: dt.datetime, end: dt.datetime, midnights: list[dt.datetime]) -> Case:
    """Which of the chart's days a reservation in scope ends on (None: not in the window).

    On PostgreSQL, width_bucket over the days' local midnights (a binary search per row, DST
    safe): converting each end to a local date cost ~3 times as much per row at 1M rows."""
    from django.db import connection

    if connection.vendor == "postgresql":
        from django.contrib.postgres.fields import ArrayField

        bucket: Any = Func(F("expires_at"),
                           Value(midnights, output_field=ArrayField(DateTimeField())),
                           function="width_bucket", output_field=IntegerField())
    else:
        bucket = TruncDate("expires_at")
    return Case(When(_ending(now, end), then=bucket), default=None,
                output_field=IntegerField() if connection.vendor == "postgresql" else DateField())


def _held_counts_sql(holder_ids: list[int], now: dt.datetime, end: dt.datetime,
                     midnights: list[dt.datetime]) -> list[tuple[int, str, int | None, int]]:
    """(holder, state, day bucket or None, count) over the holders' numbers, PostgreSQL.

    The inner GROUP BY (holder, state, end) is in the order of number_holder_state_end
    (migration 0018), so it is an index-only scan with a streaming aggregate: no hash or sort
    of the partner's share, and deduplicated entries. The outer one folds the ends into the
    chart's days over the (few) distinct ends. Measured at 10M for 750k held numbers: ~145 ms,
    where a hash aggregate over number_holder_e164 took ~420 ms."""
    from django.db import connection

    table = PhoneNumber._meta.db_table
    sql = f"""
        SELECT organization_id, state,
               CASE WHEN state = %s AND expires_at >= %s AND expires_at < %s
                    THEN width_bucket(expires_at, %s::timestamptz[]) END AS day,
               sum(n)::bigint
        FROM (SELECT organization_id, state, expires_at, count(*) AS n
              FROM {table} WHERE organization_id = ANY(%s)
              GROUP BY organization_id, state, expires_at) AS per_end
        GROUP BY 1, 2, 3"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [NumberState.RESERVED, now, end, midnights, holder_ids])
        return [(int(o), str(st), d, int(n)) for o, st, d, n in cursor.fetchall()]


def partner_summary(user: Any, *, now: dt.datetime | None = None, days: int = 30) -> dict[str, Any]:
    """Counts by state, by holder, and reservations ending per day over the next `days`.

    Exact, from the scope's parts (inventory.selectors.scope_parts): the holders' parts are
    one index-only read of number_holder_state_end grouped in its order (_held_counts_sql),
    the offered part a count over number_offers_e164. The OR of numbers_visible_to
    made PostgreSQL read the partner's whole share from the table (1.5 s for 1M of 10M).
    """
    from django.db import connection

    now = now or timezone.now()
    partner = partner_of(user)
    today = timezone.localdate(now)
    midnights = [timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=i), dt.time.min))
                 for i in range(days + 1)]
    end = midnights[-1]
    by_state: dict[str, int] = {s: 0 for s in NumberState.values}
    by_org: dict[int, dict[str, int]] = {}
    per_day = {today + dt.timedelta(days=i): 0 for i in range(days)}
    parts = scope_parts(user)
    holder_ids = [pk for _, pk in parts if pk is not None]
    for part, org_id in parts:
        if org_id is None:  # the offered part: available, held by none of the partner's
            by_state[NumberState.AVAILABLE] += PhoneNumber.objects.filter(part).count()
    rows: Any
    if not holder_ids:
        rows = []
    elif connection.vendor == "postgresql":
        rows = _held_counts_sql(holder_ids, now, end, midnights)
    else:  # the holders' parts together: organization IN (…), one pass
        rows = (
            PhoneNumber.objects.filter(organization_id__in=holder_ids)
            .order_by()
            .annotate(day=_day_of(now, end, midnights))
            .values_list("organization_id", "state", "day")
            .annotate(n=Count("*"))
        )
    for org_id, state, day, n in rows:
        by_state[state] = by_state.get(state, 0) + n
        counts = by_org.setdefault(org_id, {})
        counts[state] = counts.get(state, 0) + n
        if isinstance(day, int):  # width_bucket: 1 is today
            day = today + dt.timedelta(days=day - 1)
        if day in per_day:
            per_day[day] += n
    orgs = {pk: (name, uuid) for pk, name, uuid in
            partner_organizations(partner).values_list("pk", "name", "uuid")} if partner else {}
    holders = sorted(
        (
            {"id": org_id, "name": orgs.get(org_id, ("", None))[0],
             "uuid": orgs.get(org_id, ("", None))[1],
             "own": partner is not None and org_id == partner.pk,
             "total": sum(counts.values()), **counts}
            for org_id, counts in by_org.items()
        ),
        key=lambda h: (-int(h["total"] or 0), str(h["name"])),
    )
    return {
        "by_state": by_state,
        "total": sum(by_state.values()),
        "holders": holders,
        "per_day": [{"day": day, "reserved": n, "total": n} for day, n in per_day.items()],
    }


def partner_ending_soon(user: Any, *, per_day: list[dict[str, Any]], now: dt.datetime | None = None,
                        limit: int = 10) -> list[PhoneNumber]:
    """The reservations in scope that end next, within the chart's window.

    The window is cut at the first day by which `limit` of them have ended (known from the
    per-day counts). On PostgreSQL, one read per holder on number_holder_state_end (holder,
    'reserved', end), each stopping at `limit`, merged and cut at `limit`: the (state,
    expires_at) index walked every other holder's reservations ending first (335–520 ms at
    10M). Reservations in scope are exactly the holders' (the offered part is available).
    """
    from django.db import connection

    now = now or timezone.now()
    seen, last_day = 0, None
    for entry in per_day:
        seen += entry["total"]
        last_day = entry["day"]
        if seen >= limit:
            break
    if not seen or last_day is None:
        return []
    until = timezone.make_aware(dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time.min))
    # Ordered by the end alone, which the indexes serve, so each walk stops at `limit` rows;
    # the tie-break by id is applied to those rows. With it in the ORDER BY, PostgreSQL read
    # every reservation ending at the same moment as the 10th to sort them (36k at 10M: ~1 s).
    # Ties at the cut may thus show any of the equal ends.
    holder_ids = [pk for _, pk in scope_parts(user) if pk is not None]
    rows: list[PhoneNumber]
    if connection.vendor == "postgresql" and 1 < len(holder_ids) <= MAX_PARTS:
        pieces = [PhoneNumber.objects.filter(organization_id=pk).filter(_ending(now, until))
                  .order_by("expires_at")[:limit] for pk in holder_ids]
        rows = list(pieces[0].union(*pieces[1:], all=True).order_by("expires_at")[:limit])
        prefetch_related_objects(rows, "organization")
    else:
        rows = list(
            numbers_visible_to(user)
            .filter(_ending(now, until))
            .select_related("organization")
            .order_by("expires_at")[:limit]
        )
    return sorted(rows, key=lambda n: (n.expires_at, n.pk))


def partner_longest_available(user: Any, *, limit: int = 10) -> QuerySet[PhoneNumber]:
    """Available numbers in scope that have waited longest (oldest state change first).

    The services clear `organization` whenever a number becomes available, so the available
    numbers in scope are those offered to the partner; saying so (visible_to) lets PostgreSQL
    use that index instead of a parallel scan of the table (measured 250 ms → ~15 ms).
    """
    partner = partner_of(user)
    if partner is None:
        return PhoneNumber.objects.none()
    return (
        numbers_visible_to(user)
        .filter(state=NumberState.AVAILABLE, visible_to_id=partner.pk)
        .select_related("sku")
        .order_by(F("state_changed_at").asc(nulls_first=True), "created_at", "id")[:limit]
    )


def partner_number(user: Any, e164: str) -> PhoneNumber | None:
    """One number, only when it is in the user's scope (otherwise None: the view 404s)."""
    return (
        numbers_visible_to(user)
        .select_related("sku", "organization", "subscription")
        .filter(e164=e164)
        .first()
    )


def partner_reservations(user: Any, number: PhoneNumber) -> QuerySet[Reservation]:
    """The number's reservations held by the partner or its customers (never anyone else's).

    A charged reservation's DID-reservation subscription belongs to the reserving
    organization (extend requires it), so its plan and organization may be shown."""
    partner = partner_of(user)
    if partner is None:
        return Reservation.objects.none()
    return (
        Reservation.objects.filter(number=number, organization__in=partner_organizations(partner))
        .select_related("organization", "did_reservation__organization")
        .order_by("-starts_at", "-id")
    )


@dataclass
class TimelineEntry:
    when: dt.datetime
    kind: str  # "added", "changed", "entered", "hidden"
    title: str
    by: str = ""
    changes: list[tuple[str, str, str]] = dataclass_field(default_factory=list)
    until: dt.datetime | None = None


def partner_timeline(user: Any, number: PhoneNumber, *, limit: int = 300) -> list[TimelineEntry]:
    """The number's history as a partner may see it, newest first.

    Rows from periods when the number was outside the partner's scope (held by another
    organization, locked, deleted) collapse into one "not visible" entry without detail, and
    the first visible row after such a period is shown as a snapshot, not a diff, so nothing
    about the earlier holder leaks. Which rows were in scope is asked of numbers_visible_to
    itself, so the timeline can never show more than the scope. Remarks and user names are
    ops-only: "by" is "Operations" or "Automatic".
    """
    partner = partner_of(user)
    if partner is None:
        return []
    orgs = dict(partner_organizations(partner).values_list("pk", "name"))
    history = PhoneNumber.history.filter(id=number.pk)
    rows = list(
        history.order_by("-history_date", "-history_id")
        .values("history_id", "history_date", "history_type", "history_user_id", *TIMELINE_FIELDS)
        [:limit]
    )
    rows.reverse()
    in_scope = set(
        numbers_visible_to(user, rows=history.filter(history_id__in=[r["history_id"] for r in rows]))
        .values_list("history_id", flat=True)
    )
    system_ids = set(
        get_user_model().objects.filter(username=settings.SYSTEM_USERNAME).values_list("pk", flat=True)
    )
    sub_ids = {r["subscription_id"] for r in rows if r["subscription_id"]}
    subs = {
        s.pk: f"{s.plan or s.get_kind_display()} · {s.uuid}"
        for s in Subscription.objects.filter(pk__in=sub_ids, organization_id__in=orgs)
    }
    skus = dict(Sku.objects.filter(pk__in={r["sku_id"] for r in rows}).values_list("pk", "code"))
    states = dict(NumberState.choices)

    def show(name: str, value: Any) -> str:
        if value in (None, ""):
            return "—"
        if name == "state":
            return str(states.get(value, value))
        if name == "organization_id":
            return orgs.get(value, "another organization")
        if name == "subscription_id":
            return subs.get(value, "another subscription")
        if name == "sku_id":
            return skus.get(value, "—")
        if name == "expires_at":
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
        if name == "tags":
            return ", ".join(t for t in value.split(";") if t) or "—"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    entries: list[TimelineEntry] = []
    previous = None
    for row in rows:
        by = "Automatic" if row["history_user_id"] in system_ids or not row["history_user_id"] \
            else "Operations"
        if row["history_id"] not in in_scope:
            if entries and entries[-1].kind == "hidden":
                entries[-1].until = row["history_date"]
            else:
                entries.append(TimelineEntry(when=row["history_date"], kind="hidden",
                                             title="Not visible to your organization"))
            previous = None
            continue
        if entries and entries[-1].kind == "hidden":
            entries[-1].until = row["history_date"]
        if previous is None:
            shown = [(TIMELINE_FIELDS[f], "", show(f, row[f])) for f in TIMELINE_FIELDS
                     if row[f] not in (None, "", False) or f == "state"]
            added = row["history_type"] == "+"
            entries.append(TimelineEntry(
                when=row["history_date"], kind="added" if added else "entered", by=by,
                title="Added to the inventory" if added else "Visible to your organization",
                changes=shown,
            ))
        else:
            changes = [(TIMELINE_FIELDS[f], show(f, previous[f]), show(f, row[f]))
                       for f in TIMELINE_FIELDS if previous[f] != row[f]]
            if changes:
                title = (f"{show('state', previous['state'])} → {show('state', row['state'])}"
                         if previous["state"] != row["state"] else "Details changed")
                entries.append(TimelineEntry(when=row["history_date"], kind="changed", by=by,
                                             title=title, changes=changes))
        previous = row
    entries.reverse()
    return entries


# --- the number table's pages ----------------------------------------------------------------

MAX_PARTS = 40  # more holders than this: one page query over the whole scope instead
PART_SORTS = frozenset({"", "number", "-number", "customer", "-customer"})


Filtered = Callable[[QuerySet[PhoneNumber]], QuerySet[PhoneNumber]]


DENSE_ROWS = 20_000  # estimated matches from which the table is read part by part


def read_by_part(user: Any, filtered: Filtered) -> bool:
    """Whether the filtered scope is read part by part: see estimated_rows."""
    estimate = estimated_rows(user, filtered)
    return estimate is not None and estimate >= DENSE_ROWS


def estimated_rows(user: Any, filtered: Filtered) -> int | None:
    """The planner's estimate of the filtered scope's rows (PostgreSQL; else None).

    Many matches: each part's walk in number order finds a page's rows at once, where
    collecting and sorting them all is slow (1M for the whole scope at 10M). Few matches
    (a tag, a pattern): the walks would read each part to its end looking for them, while
    the scope's bitmap indexes collect them cheaply. The planner's estimate decides (one
    EXPLAIN, not a count)."""
    import json

    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    queryset = filtered(numbers_visible_to(user)).order_by()
    if queryset.query.is_empty():
        return 0
    try:
        sql, params = queryset.values("pk").query.sql_with_params()
    except EmptyResultSet:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


SPARSE_WORK_MEM = "32MB"


def ordered_ids(queryset: QuerySet[PhoneNumber], cap: int) -> list[int]:
    """The first `cap` ids of a queryset expected to match few rows, in its order.

    Such a read is a bitmap of the filter's index ANDed with the scope's; on PostgreSQL with
    more work memory for this one statement, so that the bitmap stays exact (one table page
    per match) instead of lossy (every row of those pages rechecked: a tag at 10M, 800k rows
    rechecked for 16.7k matches, ~130–190 ms of ~450–590). The setting is the transaction's
    own (SET LOCAL) and put back right after, so an enclosing transaction keeps its own."""
    from django.db import connection, transaction

    rows = queryset.values_list("pk", flat=True)[:cap]
    if connection.vendor != "postgresql":
        return list(rows)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem')")
        before = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('work_mem', %s, true)", [SPARSE_WORK_MEM])
        try:
            return list(rows)
        finally:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [before])


def partner_page(user: Any, filtered: Filtered, *, sort: str, offset: int,
                 limit: int) -> list[PhoneNumber] | None:
    """Rows offset … offset+limit of the filtered scope, in `sort` order, read part by part.

    `filtered` applies the table's filters to a queryset. Ordered by number, the scope is
    read as a UNION ALL of its parts (scope_parts), each filtered, ordered by number and cut at
    offset+limit, so every part walks its own index (number_holder_e164, number_offers_e164)
    and PostgreSQL sorts at most parts × (offset+limit) rows, never the partner's whole share
    (ordering the whole scope sorted 1M rows per page at 10M). Sorted by holder, each part
    is one holder: the parts are ranked by its name and the same reads serve.

    None when this does not apply (another sort, too many holders, not PostgreSQL: its
    compound queries take no ORDER BY per part): the caller pages the queryset itself.
    """
    from django.db import connection

    if sort not in PART_SORTS or connection.vendor != "postgresql":
        return None
    parts = scope_parts(user)
    if not parts or len(parts) > MAX_PARTS:
        return None
    by_number = F("e164").desc() if sort == "-number" else F("e164").asc()
    ranks: dict[int | None, int] = {}
    if sort.lstrip("-") == "customer":
        names = dict(Organization.objects.filter(pk__in=[pk for _, pk in parts if pk])
                     .values_list("pk", "name"))
        ordered = sorted(names, key=lambda pk: (names[pk], pk), reverse=sort.startswith("-"))
        ranks = {pk: i for i, pk in enumerate(ordered)}
        ranks[None] = len(ordered)  # no holder: last, as nulls_last in ScopedOrderingFilter
    cut = offset + limit
    # Each part filtered on its own (not numbers_visible_to ANDed with it: PostgreSQL reads
    # the scope's OR as one more condition and underestimates each part tenfold).
    # Only the numbers are read by part, the page's rows fetched after: a filter on the state
    # or the end (in number_holder_e164) is then checked on the index entries (index-only scan),
    # so a holder part without a match costs ~4 ms for 50k entries, not 50k table reads
    # (~130 ms each; state=reserved at 10M: ~1 s with five assigned-only customers).
    pieces: list[QuerySet[Any]] = [
        filtered(PhoneNumber.objects.filter(part))
        .annotate(part_rank=Value(ranks.get(org_id, 0))).order_by(by_number)
        .values_list("e164", "part_rank")[:cut]
        for part, org_id in parts
    ]
    pieces = [p for p in pieces if not p.query.is_empty()]
    if not pieces:
        return []
    keys: list[str]
    if len(pieces) == 1:
        keys = [e164 for e164, _ in list(pieces[0])[offset:cut]]
    else:
        union = pieces[0].union(*pieces[1:], all=True)  # the partner's own and the offered
        order = ["part_rank", "-e164" if sort == "-number" else "e164"]
        keys = [e164 for e164, _ in union.order_by(*order)[offset:cut]]
    found = PhoneNumber.objects.in_bulk(keys, field_name="e164")
    return [found[e164] for e164 in keys if e164 in found]


def partner_count(user: Any, filtered: Filtered, *, cap: int) -> int:
    """How many rows the filtered scope has, counting at most `cap`.

    Part by part on PostgreSQL (a UNION ALL without order, cut at `cap`): the scope's OR
    first builds a bitmap of every matching index entry (1M for a partner holding 1M) before
    the count can stop at the cap; each part's own index stops there."""
    from django.db import connection

    parts = scope_parts(user)
    if connection.vendor != "postgresql" or len(parts) > MAX_PARTS:
        return filtered(numbers_visible_to(user)).order_by()[:cap].count()
    # A constant per row, not the id: a UNION ALL's columns are all computed, and the id would
    # make each part read the table (a part without a match: 50k reads, ~130 ms at 10M), where
    # a filter on the state or the end is answered index-only (number_holder_state_end,
    # number_holder_e164). DISTINCT (no partner filter sets it) would need the id.
    filtered_parts = [filtered(PhoneNumber.objects.filter(part)).order_by() for part, _ in parts]
    pieces: list[QuerySet[Any, Any]] = [
        p.values("pk") if p.query.distinct else p.annotate(one=Value(1)).values("one")
        for p in filtered_parts if not p.query.is_empty()]
    if not pieces:
        return 0
    if len(pieces) == 1:
        return pieces[0][:cap].count()
    return pieces[0].union(*pieces[1:], all=True)[:cap].count()


@dataclass
class NumbersPage:
    rows: list[PhoneNumber]
    has_next: bool
    count: int  # exact up to `cap`, else cap + 1 ("more than")


def partner_numbers_page(user: Any, queryset: QuerySet[PhoneNumber], filtered: Filtered, *,
                         sort: str, offset: int, per_page: int, cap: int,
                         first_page: bool) -> NumbersPage:
    """One page of the partner's filtered numbers and its capped count, by the cheapest read.

    Many matches expected: part by part (partner_page / partner_count, no sort of the whole
    share). Few (a tag, golden+ported): the page and the count from one read of the ordered
    ids, since both would collect the same matches from the same bitmaps (a tag at 10M:
    ~430 ms each). Else the filtered scope, paged, and COUNT over a LIMITed subquery.
    """
    limit = per_page + 1
    estimate = estimated_rows(user, filtered)
    by_part = estimate is not None and estimate >= DENSE_ROWS
    rows = partner_page(user, filtered, sort=sort, offset=offset, limit=limit) if by_part else None
    count: int | None = None
    if rows is None and estimate is not None and not by_part and offset + per_page < cap:
        ids = ordered_ids(queryset, cap + 1)
        count = len(ids)
        found = PhoneNumber.objects.in_bulk(ids[offset : offset + limit])
        rows = [found[pk] for pk in ids[offset : offset + limit] if pk in found]
    if rows is None:
        rows = list(queryset[offset : offset + limit])
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    # Cut on the number table alone; then the page's rows fetch their few SKUs, holders and
    # subscriptions (joins before the cut cost ~50 ms for 100k rows).
    prefetch_related_objects(rows, "sku", "organization", "subscription")
    if count is None:
        if first_page and not has_next:
            count = len(rows)  # the whole result is on this page: no second scan
        elif by_part:
            count = partner_count(user, filtered, cap=cap + 1)
        else:
            count = queryset.order_by()[: cap + 1].count()
    return NumbersPage(rows=rows, has_next=has_next, count=count)
