"""Shared reads of the inventory: the partner scope (dashboard and API) and the ops admin's lists."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, Q, QuerySet

from subscriptions.models import Organization
from subscriptions.selectors import partner_organization_ids

from .choices import NumberState
from .models import PhoneNumber, Reservation


def partner_of(user: Any) -> Organization | None:
    """The partner organization a (non-staff) dashboard user belongs to, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    membership = getattr(user, "partner_membership", None)
    return membership.organization if membership else None


def numbers_visible_to(user: Any, *, rows: QuerySet | None = None) -> QuerySet:
    """The one scope of the partner dashboard, its export and its timeline.

    A partner sees numbers held by itself or one of its customers, plus available numbers
    made visible to it. Anyone else (not a partner member) sees nothing. `rows` narrows
    another queryset with the number's columns instead (the timeline asks which of a
    number's history rows were in scope), so the scope is written only here.
    """
    rows = PhoneNumber.objects.all() if rows is None else rows
    partner = partner_of(user)
    if partner is None:
        return rows.none()
    # The customer ids are resolved first, so PostgreSQL gets a plain IN list it can index.
    return rows.filter(
        Q(organization_id__in=partner_organization_ids(partner))
        | Q(state=NumberState.AVAILABLE, visible_to_id=partner.pk)
    )


def scope_parts(user: Any) -> list[tuple[Q, int | None]]:
    """numbers_visible_to's scope as disjoint parts whose union is exactly that scope:
    one per organization of the partner (its holder id beside it), then the available
    numbers offered to the partner that none of those organizations holds (None).

    Each part is what one index serves (number_holder_e164, number_offers_e164): the
    dashboard walks the parts in number order and counts them index-only, where the OR of
    numbers_visible_to makes PostgreSQL collect and sort the partner's whole share.
    A user who is no partner member has no parts."""
    partner = partner_of(user)
    if partner is None:
        return []
    ids = partner_organization_ids(partner)
    parts: list[tuple[Q, int | None]] = [(Q(organization_id=pk), pk) for pk in ids]
    offered = Q(state=NumberState.AVAILABLE, visible_to_id=partner.pk)
    parts.append((offered & (Q(organization_id__isnull=True) | ~Q(organization_id__in=ids)), None))
    return parts


# --- reads of the ops admin ------------------------------------------------------------


def active_reservations_of(number_ids: list[int]) -> dict[int, Reservation]:
    """The active reservation or lock of each given number (one query; for a list page)."""
    from .choices import ReservationStatus

    if not number_ids:
        return {}
    rows = Reservation.objects.filter(number_id__in=number_ids, status=ReservationStatus.ACTIVE)
    return {r.number_id: r for r in rows}


def existing_e164(candidates: list[str]) -> set[str]:
    """Which of these numbers exist already. A dense block (a range) is one index range scan."""
    if not candidates:
        return set()
    by_length: dict[int, list[str]] = defaultdict(list)
    for e164 in candidates:
        by_length[len(e164)].append(e164)
    found: set[str] = set()
    for group in by_length.values():
        low, high = min(group), max(group)
        if int(high[1:]) - int(low[1:]) < 2 * len(group):
            wanted = set(group)
            found |= {
                e for e in PhoneNumber.objects.filter(e164__gte=low, e164__lte=high)
                .values_list("e164", flat=True).iterator(chunk_size=20_000)
                if e in wanted
            }
            continue
        for start in range(0, len(group), 5000):
            found |= set(
                PhoneNumber.objects.filter(e164__in=group[start : start + 5000])
                .values_list("e164", flat=True)
            )
    return found


def vendor_state_counts(vendor_ids: list[int]) -> dict[int, dict[str, int]]:
    """Number count per state of each vendor, in one aggregate query."""
    counts: dict[int, dict[str, int]] = {vid: {} for vid in vendor_ids}
    rows = (PhoneNumber.objects.filter(vendor_id__in=vendor_ids).order_by()
            .values_list("vendor_id", "state").annotate(n=Count("pk")))
    for vendor_id, state, n in rows:
        counts[vendor_id][state] = n
    return counts
