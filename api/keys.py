"""Creating and revoking API keys: one place for the commands and the admin."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from subscriptions.models import Organization, PartnerMembership
from subscriptions.selectors import partner_find

from .models import ApiKey, ApiKeyKind


def service_username(name: str) -> str:
    return f"api:{name}"


def _permissions(codenames: list[str]) -> list[Permission]:
    found = []
    for codename in codenames:
        app_label, _, code = codename.rpartition(".")
        qs = Permission.objects.filter(codename=code)
        if app_label:
            qs = qs.filter(content_type__app_label=app_label)
        perm = qs.first()
        if perm is None:
            raise ValidationError(f"Unknown permission {codename!r} (app_label.codename).")
        found.append(perm)
    return found


def api_key_create(*, name: str, group: str | None = None, partner: Organization | str | None = None,
                   permissions: list[str] | None = None, expires_days: int | None = None,
                   now: dt.datetime | None = None) -> tuple[ApiKey, str]:
    """A new key and its secret (shown once). An ops key gets a service user in `group`
    and/or with single `permissions`; a partner key a service user that is a member of the
    partner, so it sees what that partner's staff see. The service user cannot log in."""
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise ValidationError("A key needs a name of 1 to 50 characters.")
    if (partner is None) == (group is None and not permissions):
        raise ValidationError("Give either a group or permissions (ops key), or a partner (partner key).")
    if expires_days is not None and expires_days <= 0:
        raise ValidationError("--expires takes a positive number of days.")
    if ApiKey.objects.filter(name=name, revoked=False).exists():
        raise ValidationError(f"A usable key named {name!r} exists already; revoke it first.")
    org = None
    if partner is not None:
        org = partner if isinstance(partner, Organization) else partner_find(str(partner))
        if org is None or not org.is_partner:
            raise ValidationError(f"No partner with uuid or domain {partner!r}.")
    grp = None
    if group is not None:
        grp = Group.objects.filter(name=group).first()
        if grp is None:
            raise ValidationError(f"No group named {group!r}.")
    perms = _permissions(permissions or [])
    now = now or timezone.now()
    with transaction.atomic():
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username=service_username(name))
        user.set_unusable_password()
        user.is_staff = user.is_superuser = False
        user.is_active = True
        user.save()
        user.groups.set([grp] if grp else [])
        user.user_permissions.set(perms)
        if org is not None:
            PartnerMembership.objects.update_or_create(user=user, defaults={"organization": org})
        expiry = now + dt.timedelta(days=expires_days) if expires_days else None
        return ApiKey.objects.create_key(
            name=name, kind=ApiKeyKind.PARTNER if org else ApiKeyKind.OPS, user=user,
            expiry_date=expiry,
        )


def api_key_revoke(*, name: str) -> int:
    """Revoke every usable key of that name (revocation cannot be undone)."""
    count = 0
    with transaction.atomic():
        for key in ApiKey.objects.select_for_update().filter(name=name, revoked=False):
            key.revoked = True
            key.save(update_fields=["revoked"])
            count += 1
    return count
