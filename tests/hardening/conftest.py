"""Fixtures for the hardening checks: real processes, real PostgreSQL, explicit clocks."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group


@pytest.fixture
def staff_user(db):
    """An Ops staff user (not a superuser) with a known password."""
    user = get_user_model().objects.create_user(
        "opsstaff", "opsstaff@example.com", "a-long-ops-password-1", is_staff=True
    )
    user.groups.add(Group.objects.get(name="Ops"))
    return user
