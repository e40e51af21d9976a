"""The browser fixtures (`browser`, `page`, `screenshot`) live in tests/browser_support.py, a
plugin the root conftest loads, so every folder shares ONE Chromium launch per session."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.browser_support import CHROMIUM, login  # noqa: F401  (re-exported for the tests here)

PASSWORD = "ops-browser-pass-4821"
CL = "/admin/inventory/phonenumber/"


@pytest.fixture
def ops_world(transactional_db, vendor, sku):
    """An ops user with the Ops permissions, two customers, a service and some numbers."""
    from inventory.services import number_add, number_assign, number_lock, number_reserve
    from subscriptions.models import Organization, Subscription

    # The "Ops" group is put back by tests/conftest.py after flushes of earlier tests.
    user = get_user_model().objects.create_user("olivia", "olivia@example.com", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Ops"))
    partner = Organization.objects.create(name="Acme Telecom", kind="partner", domain="acme.example")
    harbour = Organization.objects.create(name="Harbour Logistics", kind="customer", parent=partner)
    clinics = Organization.objects.create(name="Lion City Clinics", kind="customer", parent=partner)
    service = Subscription.objects.create(organization=clinics, kind="service", plan="Cloud PBX")
    numbers = number_add(numbers="+6560000000-+6560000011", vendor=vendor, sku=sku, actor=user,
                         tags="batch-1").done
    number_reserve(numbers=numbers[8:10], organization=clinics, actor=user, remark="Clinics pilot",
                   reserved_for="dr.tan")
    number_assign(numbers=numbers[10:11], subscription=service, actor=user, remark="go live")
    number_lock(numbers=numbers[11:12], actor=user, remark="port-out dispute")
    return {"user": user, "harbour": harbour, "clinics": clinics, "numbers": numbers}

