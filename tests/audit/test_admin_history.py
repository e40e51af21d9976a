"""Every record an operator can change in the admin leaves a history row naming who
changed it, and the reason when the form asks for one."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from inventory.models import LifecyclePolicy, Sku, Vendor
from subscriptions.models import Organization, PartnerMembership, Subscriber, Subscription

pytestmark = pytest.mark.django_db


def change(client, obj, data: dict) -> None:
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    response = client.post(url, data)
    context = response.context or {}
    errors = context["adminform"].form.errors if "adminform" in context else response
    assert response.status_code == 302, errors
    assert response.url.endswith(f"/{obj._meta.model_name}/")  # back to the list: saved


def latest(obj):
    return obj.history.latest()


def test_organization_change_names_the_user(ops, admin_user, partner):
    change(ops, partner, {"name": "Acme Partner Pte", "kind": "partner", "owner_email": "o@acme.example",
                          "support_email": "", "billing_email": "", "domain": "acme.example"})
    entry = latest(partner)
    assert (entry.name, entry.history_type, entry.history_user) == ("Acme Partner Pte", "~", admin_user)


def test_subscription_change_keeps_the_user_and_the_reason(ops, admin_user, service, customer):
    change(ops, service, {
        "organization": customer.pk, "kind": "service", "plan": "Cloud PBX 20",
        "current_period_end_0": "2027-01-31", "current_period_end_1": "00:00:00",
        "number_allowance": "20", "subscriber": "", "change_reason": "Upgrade ordered in ticket #4411",
    })
    entry = latest(service)
    assert entry.plan == "Cloud PBX 20" and entry.number_allowance == 20
    assert entry.history_user == admin_user
    assert entry.history_change_reason == "Upgrade ordered in ticket #4411"


def test_subscription_form_asks_for_a_reason_only_on_change(ops, service):
    def fields(url):
        return ops.get(url).context["adminform"].form.fields

    assert "change_reason" in fields(reverse("admin:subscriptions_subscription_change", args=[service.pk]))
    assert "change_reason" not in fields(reverse("admin:subscriptions_subscription_add"))


def test_subscriber_change_names_the_user(ops, admin_user, customer):
    subscriber = Subscriber.objects.create(username="dr.tan", organization=customer)
    change(ops, subscriber, {"username": "dr.tan.2", "organization": customer.pk})
    assert (latest(subscriber).username, latest(subscriber).history_user) == ("dr.tan.2", admin_user)


def test_partner_membership_change_names_the_user(ops, admin_user, partner, other_partner):
    staff = get_user_model().objects.create_user("pat", "pat@acme.example", "x")
    membership = PartnerMembership.objects.create(user=staff, organization=partner)
    change(ops, membership, {"user": staff.pk, "organization": other_partner.pk})
    entry = latest(membership)
    assert (entry.organization_id, entry.history_user) == (other_partner.pk, admin_user)


def test_vendor_change_names_the_user(ops, admin_user, vendor, partner):
    change(ops, vendor, {"name": vendor.name, "reseller": partner.pk, "notes": "resold by Acme"})
    entry = latest(vendor)
    assert (entry.reseller_id, entry.notes, entry.history_user) == (partner.pk, "resold by Acme", admin_user)


def test_sku_change_names_the_user(ops, admin_user, sku):
    change(ops, sku, {"code": sku.code, "name": "Standard DID", "voice": "on", "sms": "on"})
    entry = latest(sku)
    assert (entry.name, entry.sms, entry.history_user) == ("Standard DID", True, admin_user)


def test_policy_change_keeps_the_user_and_the_reason(ops, admin_user):
    policy = LifecyclePolicy.objects.get(cause="manual", country="", sku=None, is_ported_in=None)
    change(ops, policy, {"cause": "manual", "country": "", "sku": "", "is_ported_in": "unknown",
                         "period_days": "21", "notes": policy.notes, "change_reason": "Sales asked: 3 weeks"})
    entry = latest(policy)
    assert (entry.period_days, entry.history_user) == (21, admin_user)
    assert entry.history_change_reason == "Sales asked: 3 weeks"


def test_policy_period_edited_in_the_list_names_the_user(ops, admin_user):
    policy = LifecyclePolicy.objects.get(cause="lock", country="", sku=None, is_ported_in=None)
    policies = list(LifecyclePolicy.objects.all())  # the list's order (Meta.ordering)
    data = {"form-TOTAL_FORMS": str(len(policies)), "form-INITIAL_FORMS": str(len(policies)),
            "_save": "Save"}
    for i, p in enumerate(policies):
        data[f"form-{i}-id"] = str(p.pk)
        data[f"form-{i}-period_days"] = "14" if p.pk == policy.pk else str(p.period_days)
    response = ops.post(reverse("admin:inventory_lifecyclepolicy_changelist"), data)
    assert response.status_code == 302
    entry = latest(policy)
    assert (entry.period_days, entry.history_user) == (14, admin_user)


def test_history_pages_show_but_never_revert(ops, vendor):
    vendor.notes = "first"
    vendor.save()
    record = vendor.history.earliest()
    url = reverse("admin:inventory_vendor_simple_history", args=[vendor.pk, record.history_id])
    assert ops.get(url).status_code == 200
    assert ops.post(url, {"name": "reverted", "notes": ""}).status_code == 403
    vendor.refresh_from_db()
    assert vendor.name != "reverted"
    assert ops.get(reverse("admin:inventory_vendor_history", args=[vendor.pk])).status_code == 200


def test_service_layer_saves_are_history_too(service, ops_user, now):
    from subscriptions.services import subscription_set_status

    subscription_set_status(subscription=service, status="expired", actor=ops_user, now=now)
    assert Subscription.objects.get(pk=service.pk).history.latest().status == "expired"


def test_created_records_have_a_first_history_row(customer):
    assert customer.history.get().history_type == "+"
    assert Organization.history.filter(id=customer.pk).count() == 1
    vendor = Vendor.objects.create(name="M1")
    sku = Sku.objects.create(code="X")
    assert vendor.history.count() == sku.history.count() == 1
