"""The one lock order, followed by every service (DESIGN §2):

    1. subscription(s)            subscriptions_lock / subscription_lock, primary-key order
    2. numbers                    numbers_lock, primary-key order (skip_locked sweeps may
                                  take them oldest end first: they never wait)
    3. reservations               reservations_lock, or the UPDATE that closes them
    4. notices and events         written last, by Batch.commit (results.py)

A service that needs a subscription locks it before any number (the import resolves the
subscriptions its rows name first); none takes a lock out of this order, so no two
services can wait on each other in a cycle (no deadlock). Batch.commit writes in the
same order: numbers, reservations, notices, then the domain-event hook (`_emit`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from subscriptions.choices import SubscriptionKind, SubscriptionStatus
from subscriptions.models import Subscription

from ..choices import ReservationStatus
from ..models import PhoneNumber, Reservation
from .results import ServiceError

LOCK_CHUNK = 5000


def _in(field: str, values: list[Any], array_type: str) -> Q:
    """`field IN values` with one array parameter on PostgreSQL: 5,000 literal parameters
    cost more to send and plan than the rows they find."""
    if connection.vendor != "postgresql":
        return Q(**{f"{field}__in": values})
    return Q(**{f"{field}__in": RawSQL(f"SELECT unnest(%s::{array_type}[])", [values])})


def _ids(numbers: QuerySet | Iterable[PhoneNumber | int | str]) -> list[int]:
    if isinstance(numbers, QuerySet):
        return sorted(numbers.order_by().values_list("pk", flat=True))
    ids: set[int] = set()
    e164s: list[str] = []
    for n in numbers:
        if isinstance(n, PhoneNumber):
            ids.add(n.pk)
        elif isinstance(n, int):
            ids.add(n)
        else:
            e164s.append(str(n))
    for start in range(0, len(e164s), LOCK_CHUNK):
        ids.update(
            PhoneNumber.objects.filter(_in("e164", e164s[start : start + LOCK_CHUNK], "text"))
            .values_list("pk", flat=True)
        )
    return sorted(ids)


def numbers_lock(numbers: Any) -> list[PhoneNumber]:
    """Step 2: lock the rows in primary-key order and reload them."""
    ids = _ids(numbers)
    locked: list[PhoneNumber] = []
    for start in range(0, len(ids), LOCK_CHUNK):
        chunk = ids[start : start + LOCK_CHUNK]
        locked.extend(PhoneNumber.objects.select_for_update().filter(_in("pk", chunk, "bigint"))
                      .order_by("pk"))
    return locked


def subscriptions_lock(ids: Iterable[int]) -> dict[int, Subscription]:
    """Step 1: lock subscriptions in primary-key order (with their organization loaded)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (Subscription.objects.select_for_update(of=("self",)).select_related("organization")
            .filter(pk__in=wanted).order_by("pk"))
    return {sub.pk: sub for sub in rows}


def subscription_check(sub: Subscription, *, kind: str) -> None:
    """A number may move into a subscription only of the right kind, and only while active."""
    if sub.kind != kind:
        raise ServiceError(
            f"Subscription {sub.uuid} is a {sub.get_kind_display()} subscription; this needs "
            f"a {SubscriptionKind(kind).label} subscription."
        )
    if sub.status != SubscriptionStatus.ACTIVE:
        raise ServiceError(f"Subscription {sub.uuid} is {sub.status}, not active.")


def subscription_lock(subscription: Subscription | None, *, kind: str | None = None) -> Subscription:
    """Step 1 for one subscription: reload it under a row lock (its status and allowance
    are decided on); with `kind`, also require it to be an active one of that kind."""
    if subscription is None:
        raise ServiceError("A subscription is required.")
    sub = subscriptions_lock([subscription.pk]).get(subscription.pk)
    if sub is None:
        raise ServiceError("Unknown subscription.")
    if kind is not None:
        subscription_check(sub, kind=kind)
    return sub


def reservations_lock(queryset: QuerySet[Reservation], number_ids: Iterable[int]) -> list[Reservation]:
    """Step 3: lock reservations (of numbers already locked), in number order."""
    return list(queryset.select_for_update().filter(number_id__in=list(number_ids))
                .order_by("number_id"))


def reservations_active(numbers: Iterable[PhoneNumber]) -> dict[int, Reservation]:
    """The active reservation of each number (read; the numbers are locked already)."""
    ids = [n.pk for n in numbers]
    found: dict[int, Reservation] = {}
    for start in range(0, len(ids), LOCK_CHUNK):
        for r in Reservation.objects.filter(
            _in("number_id", ids[start : start + LOCK_CHUNK], "bigint"), status=ReservationStatus.ACTIVE
        ):
            found[r.number_id] = r
    return found
