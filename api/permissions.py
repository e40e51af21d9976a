"""Who may call what: the same permission codenames the admin checks, and partner keys only read."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiKey


class HasApiKey(BasePermission):
    """A usable key is required. A partner key may only read, and only where the view allows
    partners (`partner_allowed`). The view's `required_permission(request)` names the model
    permission the admin asks for the same thing (e.g. `inventory.reserve_number`)."""

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False  # DRF answers 401 with the WWW-Authenticate challenge
        if key.is_partner:
            if request.method not in SAFE_METHODS:
                raise exceptions.PermissionDenied("Partner keys are read-only.")
            if not getattr(view, "partner_allowed", True):
                raise exceptions.PermissionDenied("This endpoint is for ops keys only.")
            return True
        required = getattr(view, "required_permission", None)
        codename = required(request) if callable(required) else None
        if codename and not request.user.has_perm(codename):
            raise exceptions.PermissionDenied(
                f"The key {key.name} lacks the permission {codename}."
            )
        return True
