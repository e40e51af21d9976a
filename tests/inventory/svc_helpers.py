"""Helpers for the service tests: what a number looks like in the database, and how to
put a number into each state through the services themselves (never by writing state)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from inventory.choices import DeleteReason, NumberState, PolicyCause
from inventory.models import LifecyclePolicy, PhoneNumber, Reservation, Sku
from inventory.services import (
    number_assign,
    number_delete,
    number_lock,
    number_release,
    number_reserve,
)
from subscriptions.models import Organization, Subscription

S = NumberState
DAY = dt.timedelta(days=1)


def row(number: PhoneNumber) -> Mapping[str, Any]:
    """The number's stored row (every column, including the non-editable ones)."""
    return PhoneNumber.objects.filter(pk=number.pk).values().get()


def fresh(number: PhoneNumber) -> PhoneNumber:
    return PhoneNumber.objects.get(pk=number.pk)


def history(number: PhoneNumber) -> list[Any]:  # simple-history records (untyped)
    return list(PhoneNumber.history.filter(id=number.pk).order_by("history_id"))


def reservations(number: PhoneNumber) -> list[Mapping[str, Any]]:
    return list(Reservation.objects.filter(number_id=number.pk).order_by("id").values())


def world(number: PhoneNumber) -> tuple[Mapping[str, Any], int, list[Mapping[str, Any]]]:
    """Everything a refusal or a harmless repeat must leave exactly as it was."""
    return row(number), len(history(number)), reservations(number)


def set_policy(cause: str, days: int, *, country: str = "", sku: Sku | None = None,
               is_ported_in: bool | None = None) -> None:
    LifecyclePolicy.objects.update_or_create(
        cause=cause, country=country, sku=sku, is_ported_in=is_ported_in,
        defaults={"period_days": days},
    )


def put_in_state(number: PhoneNumber, state: str, *, organization: Organization | None,
                 subscription: Subscription | None, actor: Any, now: dt.datetime) -> PhoneNumber:
    """Drive a fresh available number into `state` with the services.

    reserved: by `organization`; assigned: to `subscription`; cooling: released while the
    cooling policy is 3 days (the policy is put back to 0 afterwards); hold: assigned to a
    new subscription of `subscription`'s organization, which is then suspended (so
    `subscription` itself stays active).
    """
    kw = {"numbers": [number], "actor": actor, "now": now}
    if state == S.AVAILABLE:
        pass
    elif state == S.RESERVED:
        assert organization is not None, "reserved needs an organization"
        assert number_reserve(organization=organization, remark="setup", **kw).done
    elif state == S.ASSIGNED:
        assert subscription is not None, "assigned needs a subscription"
        assert number_assign(subscription=subscription, remark="setup", **kw).done
    elif state == S.LOCKED:
        assert number_lock(remark="setup", **kw).done
    elif state == S.COOLING:
        assert organization is not None, "cooling is reached from reserved: needs an organization"
        assert number_reserve(organization=organization, remark="setup", **kw).done
        set_policy(PolicyCause.COOLING, 3)
        try:
            assert number_release(remark="setup", **kw).done
        finally:
            set_policy(PolicyCause.COOLING, 0)
    elif state == S.HOLD:
        from subscriptions.models import Subscription
        from subscriptions.services import subscription_set_status

        package = Subscription.objects.create(organization=subscription.organization,
                                              kind="service", plan="held package")
        assert number_assign(subscription=package, remark="setup", **kw).done
        subscription_set_status(subscription=package, status="suspended", actor=actor, now=now)
    elif state == S.DELETED:
        assert number_delete(reason=DeleteReason.FAULTY, remark="setup", **kw).done
    else:  # pragma: no cover - a typo in a test
        raise AssertionError(state)
    number = fresh(number)
    assert number.state == state
    return number
