"""Writes to subscriptions; the numbers follow through inventory.services."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from inventory.choices import PolicyCause
from inventory.services import (
    ServiceError,
    TransitionResult,
    numbers_return_from_subscription,
    numbers_swap,
    reservations_follow_subscription,
    subscription_lock,
)

from .choices import SubscriptionKind, SubscriptionStatus
from .models import Subscription

ENDED_CAUSE = {
    SubscriptionStatus.EXPIRED: PolicyCause.SUBSCRIPTION_EXPIRED,
    SubscriptionStatus.TERMINATED: PolicyCause.SUBSCRIPTION_TERMINATED,
}


def subscription_set_status(*, subscription: Subscription, status: str, actor,
                            now: dt.datetime | None = None) -> TransitionResult:
    """Change a subscription's status. A service that ends hands its numbers back, reserved
    for its organization (56 days expired, 28 terminated); a DID reservation that ends
    ends its charged reservations. Setting the status it already has changes nothing."""
    if status not in SubscriptionStatus.values:
        raise ServiceError(f"Unknown subscription status {status!r}.")
    now = now or timezone.now()
    with transaction.atomic():
        sub = subscription_lock(subscription)  # lock order step 1, before its numbers
        if sub.status == status:
            return TransitionResult()
        sub.status = status
        sub.save(update_fields=["status"])
        subscription.status = status
        result = TransitionResult()
        if status in ENDED_CAUSE and sub.kind == SubscriptionKind.SERVICE:
            result = numbers_return_from_subscription(
                subscription=sub, cause=ENDED_CAUSE[status], actor=actor, now=now
            )
        elif sub.kind == SubscriptionKind.DID_RESERVATION:
            reservations_follow_subscription(subscription=sub, actor=actor, now=now)
        return result


def subscription_renew(*, subscription: Subscription, current_period_end: dt.datetime, actor,
                       now: dt.datetime | None = None) -> int:
    """A new billing period: charged reservations under a DID reservation follow it."""
    now = now or timezone.now()
    with transaction.atomic():
        sub = subscription_lock(subscription)
        if sub.status != SubscriptionStatus.ACTIVE:
            raise ServiceError(f"Subscription {sub.uuid} is {sub.status}; it cannot renew.")
        sub.current_period_end = current_period_end
        sub.save(update_fields=["current_period_end"])
        subscription.current_period_end = current_period_end
        if sub.kind != SubscriptionKind.DID_RESERVATION:
            return 0
        return reservations_follow_subscription(subscription=sub, actor=actor, now=now)


def subscriptions_expire_due(*, now: dt.datetime | None = None, actor=None) -> int:
    """Active subscriptions past their period end become expired (their numbers follow)."""
    now = now or timezone.now()
    count = 0
    due = Subscription.objects.filter(
        status=SubscriptionStatus.ACTIVE, current_period_end__lte=now
    ).order_by("pk")
    for sub in due.iterator(chunk_size=200):
        subscription_set_status(subscription=sub, status=SubscriptionStatus.EXPIRED,
                                actor=actor, now=now)
        count += 1
    return count


def subscription_swap_number(*, subscription: Subscription, old, new, actor, remark: str,
                             now: dt.datetime | None = None) -> TransitionResult:
    """Replace one assigned number; the old one stays reserved for the organization 1 day."""
    return numbers_swap(subscription=subscription, old=old, new=new, actor=actor, remark=remark,
                        now=now)
