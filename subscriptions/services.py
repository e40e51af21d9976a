"""Writes to subscriptions; the numbers follow through inventory.services.

A subscription's status, period end, organization and kind change only here (admin, API
and beat alike), so that its numbers always follow: ending hands them back reserved,
suspending holds them, reactivating brings them back and onboards the subscriber's numbers,
renewing moves the charged reservations.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from events.choices import EventType
from events.services import events_emit
from inventory.choices import PolicyCause, ReservationKind, ReservationStatus
from inventory.models import PhoneNumber, Reservation
from inventory.services import (
    HELD_STATES,
    ServiceError,
    TransitionResult,
    numbers_hold,
    numbers_onboard,
    numbers_return_from_subscription,
    numbers_swap,
    numbers_unhold,
    reservations_follow_subscription,
    subscription_lock,
)
from inventory.services.results import actor_or_system

from .choices import SubscriptionKind, SubscriptionStatus
from .models import Organization, Subscription

ENDED_CAUSE = {
    SubscriptionStatus.EXPIRED: PolicyCause.SUBSCRIPTION_EXPIRED,
    SubscriptionStatus.TERMINATED: PolicyCause.SUBSCRIPTION_TERMINATED,
}
# What subscription_update may change; status and period end have their own services.
UPDATABLE = ("plan", "number_allowance", "subscriber", "organization", "kind")


def _save(sub: Subscription, *, fields: list[str], actor: Any, reason: str) -> None:
    """Save with a history row naming the actor and the reason (the audit log)."""
    sub._history_user = actor_or_system(actor)  # type: ignore[attr-defined]
    sub._change_reason = reason  # type: ignore[attr-defined]
    sub.save(update_fields=fields)


def subscription_create(*, organization: Organization, kind: str = SubscriptionKind.SERVICE,
                        plan: str = "", status: str = SubscriptionStatus.ACTIVE,
                        current_period_end: dt.datetime | None = None,
                        number_allowance: int | None = None, subscriber: str = "", actor: Any,
                        now: dt.datetime | None = None) -> tuple[Subscription, TransitionResult]:
    """Create a subscription; an active service one with a subscriber is onboarded at once
    (the numbers kept for that username are assigned to it, within its allowance). The one
    way the admin and the API create subscriptions."""
    if organization is None:
        raise ServiceError("A subscription needs an organization.")
    if kind not in SubscriptionKind.values:
        raise ServiceError(f"Unknown subscription kind {kind!r}.")
    if status not in SubscriptionStatus.values:
        raise ServiceError(f"Unknown subscription status {status!r}.")
    with transaction.atomic():
        sub = Subscription(organization=organization, kind=kind, plan=plan or "", status=status,
                           current_period_end=current_period_end,
                           number_allowance=number_allowance,
                           subscriber=(subscriber or "").strip())
        sub._history_user = actor_or_system(actor)  # type: ignore[attr-defined]
        sub._change_reason = "created"  # type: ignore[attr-defined]
        sub.save()
        return sub, subscription_onboard(subscription=sub, actor=actor, now=now)


def subscription_onboard(*, subscription: Subscription, actor: Any,
                         now: dt.datetime | None = None) -> TransitionResult:
    """Assign to an active service subscription with a subscriber the numbers kept for that
    username (available, or reserved by its organization or that organization's partner),
    within its allowance; the rest are refused with the reason. Anything else: nothing."""
    with transaction.atomic():
        sub = subscription_lock(subscription)  # lock order step 1, before its numbers
        return numbers_onboard(subscription=sub, actor=actor, now=now)


def subscription_set_status(*, subscription: Subscription, status: str, actor,
                            now: dt.datetime | None = None) -> TransitionResult:
    """Change a subscription's status; its numbers follow in the same transaction.

    Ended (expired, terminated): a service's assigned and held numbers go back to its
    organization, reserved (56 / 28 days); a DID reservation's charged reservations end.
    Suspended: a service's assigned numbers go into hold (still its own, routing
    unreachable) for the hold days; a DID reservation's charged reservations stay as they
    are. Active again: held numbers are assigned again, then the subscriber is onboarded.
    Setting the status it already has changes nothing."""
    if status not in SubscriptionStatus.values:
        raise ServiceError(f"Unknown subscription status {status!r}.")
    now = now or timezone.now()
    with transaction.atomic():
        sub = subscription_lock(subscription)  # lock order step 1, before its numbers
        if sub.status == status:
            return TransitionResult()
        before = {"status": sub.status, "current_period_end": sub.current_period_end}
        _save_status(sub, status, actor)
        subscription.status = status
        result = _numbers_follow_status(sub, status, actor=actor, now=now)
        events_emit(type=EventType.SUBSCRIPTION_STATUS_CHANGED, actor=actor,  # last: lock order
                    remark=f"status set to {status}", subscription=sub, subscription_before=before,
                    now=now)
        return result


def _numbers_follow_status(sub: Subscription, status: str, *, actor: Any,
                           now: dt.datetime) -> TransitionResult:
    """A status change's moves of the subscription's numbers (its lock is held)."""
    if sub.kind == SubscriptionKind.DID_RESERVATION:
        if status != SubscriptionStatus.SUSPENDED:
            reservations_follow_subscription(subscription=sub, actor=actor, now=now)
        return TransitionResult()
    if status in ENDED_CAUSE:
        return numbers_return_from_subscription(
            subscription=sub, cause=ENDED_CAUSE[SubscriptionStatus(status)], actor=actor, now=now
        )
    if status == SubscriptionStatus.SUSPENDED:
        return numbers_hold(subscription=sub, actor=actor, now=now)
    result = numbers_unhold(subscription=sub, actor=actor, now=now)
    return result.merge(numbers_onboard(subscription=sub, actor=actor, now=now))


def _save_status(sub: Subscription, status: str, actor: Any) -> None:
    sub.status = status
    _save(sub, fields=["status"], actor=actor, reason=f"status set to {status}")


def subscription_renew(*, subscription: Subscription, current_period_end: dt.datetime, actor,
                       now: dt.datetime | None = None) -> int:
    """A new billing period: charged reservations under a DID reservation follow it."""
    now = now or timezone.now()
    with transaction.atomic():
        sub = subscription_lock(subscription)
        if sub.status != SubscriptionStatus.ACTIVE:
            raise ServiceError(f"Subscription {sub.uuid} is {sub.status}; it cannot renew.")
        before = {"status": sub.status, "current_period_end": sub.current_period_end}
        sub.current_period_end = current_period_end
        reason = (f"renewed to {current_period_end:%Y-%m-%d %H:%M}" if current_period_end
                  else "renewed with no end")
        _save(sub, fields=["current_period_end"], actor=actor, reason=reason)
        subscription.current_period_end = current_period_end
        moved = 0
        if sub.kind == SubscriptionKind.DID_RESERVATION:
            moved = reservations_follow_subscription(subscription=sub, actor=actor, now=now)
        # Last in the lock order; nothing when the period end is the one it had.
        events_emit(type=EventType.SUBSCRIPTION_RENEWED, actor=actor, remark=reason,
                    subscription=sub, subscription_before=before, now=now)
        return moved


def _holds(sub: Subscription) -> int:
    """How many numbers the subscription holds: assigned or held (a service), or under an
    active charged reservation (a DID reservation)."""
    if sub.kind == SubscriptionKind.DID_RESERVATION:
        return Reservation.objects.filter(did_reservation=sub, kind=ReservationKind.CHARGED,
                                          status=ReservationStatus.ACTIVE).count()
    return PhoneNumber.objects.filter(subscription=sub, state__in=HELD_STATES).count()


def _organization(value: Any) -> Organization:
    if isinstance(value, Organization):
        return value
    found = Organization.objects.filter(uuid=value).first() if value else None
    if found is None:
        raise ServiceError(f"Unknown organization: {value}")
    return found


def subscription_update(*, subscription: Subscription, changes: dict[str, Any], actor: Any,
                        remark: str = "", now: dt.datetime | None = None) -> TransitionResult:
    """Change a subscription's plan, allowance, subscriber, organization or kind.

    Refused, changing nothing: an allowance below the numbers it holds; an organization
    or kind change while it holds numbers (they belong to that organization and kind).
    A new subscriber on an active service subscription is onboarded (the result). Status
    and period end change through subscription_set_status and subscription_renew."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ServiceError(
            f"These cannot be changed here: {', '.join(sorted(unknown))}. The status changes "
            "through the status actions and the period end through Renew."
        )
    with transaction.atomic():
        sub = subscription_lock(subscription)  # lock order step 1, before its numbers
        new: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "organization":
                value = _organization(value)
                if value.pk != sub.organization_id:
                    new[name] = value
            elif name == "kind":
                if value not in SubscriptionKind.values:
                    raise ServiceError(f"Unknown subscription kind {value!r}.")
                if value != sub.kind:
                    new[name] = value
            elif name == "number_allowance":
                if value not in (None, "") and (not str(value).isdigit()):
                    raise ServiceError(f"The allowance must be a whole number, not {value!r}.")
                value = None if value in (None, "") else int(value)
                if value != sub.number_allowance:
                    new[name] = value
            else:
                value = (value or "").strip()
                if value != getattr(sub, name):
                    new[name] = value
        if not new:
            return TransitionResult()
        held = _holds(sub) if {"organization", "kind", "number_allowance"} & set(new) else 0
        if held and ({"organization", "kind"} & set(new)):
            what = " and ".join(n for n in ("organization", "kind") if n in new)
            raise ServiceError(f"Subscription {sub.uuid} holds {held} numbers; its {what} "
                               "cannot change until they are released or swapped out.")
        allowance = new.get("number_allowance", sub.number_allowance)
        if "number_allowance" in new and allowance is not None and allowance < held:
            raise ServiceError(f"Subscription {sub.uuid} holds {held} numbers; its allowance "
                               f"cannot drop below that (asked: {allowance}).")
        for name, value in new.items():
            setattr(sub, name, value)
            setattr(subscription, name, value)
        _save(sub, fields=list(new), actor=actor,
              reason=remark or f"changed {', '.join(sorted(new))}")
        if "subscriber" in new or "number_allowance" in new:
            return numbers_onboard(subscription=sub, actor=actor, now=now)
        return TransitionResult()


def subscriptions_expire_due(*, now: dt.datetime | None = None, actor=None) -> int:
    """Active (or suspended) subscriptions past their period end become expired; their
    numbers follow."""
    now = now or timezone.now()
    count = 0
    due = Subscription.objects.filter(
        status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED],
        current_period_end__lte=now,
    ).order_by("pk")
    for sub in due.iterator(chunk_size=200):
        subscription_set_status(subscription=sub, status=SubscriptionStatus.EXPIRED,
                                actor=actor, now=now)
        count += 1
    return count


def subscription_swap_number(*, subscription: Subscription, old, new, actor, remark: str,
                             now: dt.datetime | None = None) -> TransitionResult:
    """Replace one assigned number; the old one stays reserved for the organization (1 day;
    ported-in 28). Refused with the reason, changing nothing, when the replacement may not
    go to this subscription: kept for another subscriber, golden and not reserved for
    its organization, reserved by another, or past the allowance."""
    return numbers_swap(subscription=subscription, old=old, new=new, actor=actor, remark=remark,
                        now=now)
