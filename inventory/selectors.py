"""Every shared read of the inventory: scoping and the due lists."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet
from django.utils import timezone

from subscriptions.models import Organization

from .choices import NumberState
from .models import PhoneNumber


def partner_of(user) -> Organization | None:
    """The partner organization a (non-staff) dashboard user belongs to, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    membership = getattr(user, "partner_membership", None)
    return membership.organization if membership else None


def numbers_visible_to(user) -> QuerySet[PhoneNumber]:
    """The one scope of the partner dashboard and its export.

    A partner sees numbers held by itself or one of its customers, plus available numbers
    made visible to it. Anyone else (not a partner member) sees nothing.
    """
    partner = partner_of(user)
    if partner is None:
        return PhoneNumber.objects.none()
    # The customer ids are resolved first, so PostgreSQL gets a plain IN list it can index.
    org_ids = [partner.pk, *Organization.objects.filter(parent=partner).values_list("pk", flat=True)]
    return PhoneNumber.objects.filter(
        Q(organization_id__in=org_ids)
        | Q(state=NumberState.AVAILABLE, visible_to_id=partner.pk)
    )


def numbers_due_for_expiry(*, now: dt.datetime | None = None) -> QuerySet[PhoneNumber]:
    now = now or timezone.now()
    return PhoneNumber.objects.filter(
        state__in=[NumberState.RESERVED, NumberState.LOCKED, NumberState.COOLING],
        expires_at__lte=now,
    )
