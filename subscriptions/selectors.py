"""Shared reads of the parties: finding a partner and a partner's organizations, once."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from .choices import OrganizationKind
from .models import Organization


def partner_find(value: str, *, by_name: bool = False) -> Organization | None:
    """The partner named by uuid or domain (what ops have at hand), or by exact name when
    `by_name`; None when there is none. Callers word their own refusal."""
    text = (value or "").strip()
    if not text:
        return None
    partners = Organization.objects.filter(kind=OrganizationKind.PARTNER)
    try:
        return partners.filter(uuid=uuid.UUID(text)).first()
    except ValueError:
        pass
    found = partners.filter(domain__iexact=text).first()
    if found is None and by_name:
        found = partners.filter(name=text).first()
    return found


def partner_organizations(partner: Organization | int) -> QuerySet[Organization]:
    """The partner and its customers: the only organizations a partner user may name or see.

    The one definition of "a partner's organizations" (the dashboard's scope, its filters,
    its timeline)."""
    pk = partner if isinstance(partner, int) else partner.pk
    return Organization.objects.filter(Q(pk=pk) | Q(parent_id=pk))


def partner_organization_ids(partner: Organization | int) -> list[int]:
    """partner_organizations as a plain id list (PostgreSQL indexes an IN list)."""
    return list(partner_organizations(partner).values_list("pk", flat=True))
