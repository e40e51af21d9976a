"""What a key may see. Ops keys see everything their permissions allow; a partner key's
service user is a member of its partner, so the dashboard's own `numbers_visible_to` and
`partner_organizations` give its scope, unchanged and unduplicated."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from inventory.models import PhoneNumber
from inventory.selectors import numbers_visible_to, partner_of
from partners.views import EXPORT_HEADER as PARTNER_EXPORT_COLUMNS  # the partner's columns
from subscriptions.models import Organization, Subscription
from subscriptions.selectors import partner_organizations

NUMBER_RELATED = ("vendor", "sku", "organization", "subscription", "visible_to")


def is_partner(request) -> bool:
    return bool(getattr(request.auth, "is_partner", False))


def numbers_for(request) -> QuerySet[PhoneNumber]:
    qs = numbers_visible_to(request.user) if is_partner(request) else PhoneNumber.objects.all()
    return qs.select_related(*NUMBER_RELATED)


def organizations_for(request) -> QuerySet[Organization]:
    if is_partner(request):
        partner = partner_of(request.user)
        return partner_organizations(partner) if partner else Organization.objects.none()
    return Organization.objects.all()


def subscriptions_for(request) -> QuerySet[Subscription]:
    qs = Subscription.objects.select_related("organization")
    if is_partner(request):
        partner = partner_of(request.user)
        if partner is None:
            return qs.none()
        return qs.filter(Q(organization=partner) | Q(organization__parent=partner))
    return qs


__all__ = ["PARTNER_EXPORT_COLUMNS", "is_partner", "numbers_for", "organizations_for",
           "subscriptions_for"]
