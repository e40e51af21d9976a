"""Billing drives subscriptions through the API, through the same services as the admin."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import PhoneNumber, Reservation
from subscriptions.models import Organization, Subscription

pytestmark = pytest.mark.django_db


def _reserve_and_assign(ops, e164s, customer, service):
    ops.post("/numbers/actions/assign/", {"numbers": e164s, "remark": "sold",
                                          "subscription": str(service.uuid)})
    assert all(PhoneNumber.objects.get(e164=e).state == "assigned" for e in e164s)


def test_expiring_a_service_leaves_its_numbers_reserved_for_56_days(ops, make_numbers, customer, service):
    make_numbers(2)
    _reserve_and_assign(ops, ["+6560000000", "+6560000001"], customer, service)
    response = ops.post(f"/subscriptions/{service.uuid}/status/", {"status": "expired"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subscription"]["status"] == "expired"
    assert body["moved"] == ["+6560000000", "+6560000001"]
    for number in PhoneNumber.objects.filter(e164__in=body["moved"]):
        assert number.state == "reserved" and number.organization == customer
        period = number.expires_at - number.state_changed_at
        assert abs(period - dt.timedelta(days=56)) < dt.timedelta(seconds=5)
        last = number.history.first()
        assert last.history_user.username == "api:provisioning"
    again = ops.post(f"/subscriptions/{service.uuid}/status/", {"status": "expired"})
    assert again.json()["moved"] == []


def test_renewing_a_did_reservation_moves_its_charged_numbers_end(ops, make_numbers, customer,
                                                                  make_subscription, now):
    make_numbers(1)
    did = make_subscription(customer, kind="did_reservation", period_end=now + dt.timedelta(days=60))
    ops.post("/numbers/actions/reserve/", {"numbers": ["+6560000000"], "remark": "hold it",
                                           "organization": str(customer.uuid)})
    extended = ops.post("/numbers/actions/extend/", {"numbers": ["+6560000000"], "remark": "charged",
                                                     "did_reservation": str(did.uuid)})
    assert extended.json()["done"] == ["+6560000000"]
    new_end = now + dt.timedelta(days=120)
    response = ops.post(f"/subscriptions/{did.uuid}/renew/", {"current_period_end": new_end.isoformat()})
    assert response.status_code == 200, response.content
    assert response.json()["moved"] == ["+6560000000"]
    number = PhoneNumber.objects.get(e164="+6560000000")
    assert number.expires_at == new_end
    assert Reservation.objects.get(number=number, status="active").ends_at == new_end


def test_renewing_an_expired_subscription_is_refused(ops, customer, make_subscription):
    sub = make_subscription(customer, status="expired")
    response = ops.post(f"/subscriptions/{sub.uuid}/renew/", {"current_period_end": "2031-01-01T00:00:00Z"})
    assert response.status_code == 400 and "expired" in response.json()["detail"]


def test_swap_a_number(ops, make_numbers, customer, service):
    make_numbers(2)
    _reserve_and_assign(ops, ["+6560000000"], customer, service)
    response = ops.post(f"/subscriptions/{service.uuid}/swap/", {"old": "+6560000000",
                                                                "new": "+6560000001", "remark": "asked"})
    assert response.status_code == 200, response.content
    assert sorted(response.json()["moved"]) == ["+6560000000", "+6560000001"]
    old, new = PhoneNumber.objects.order_by("e164")
    assert (old.state, new.state, new.subscription) == ("reserved", "assigned", service)
    missing = ops.post(f"/subscriptions/{service.uuid}/swap/", {"old": "+6560000001",
                                                               "new": "+6569999999", "remark": "x"})
    assert missing.status_code == 400 and "new" in missing.json()["errors"]


def test_create_get_and_list_subscriptions(ops, customer, partner):
    body = {"organization": str(customer.uuid), "kind": "service", "plan": "Business DID",
            "current_period_end": "2031-01-01T00:00:00Z", "number_allowance": 3, "subscriber": "alice"}
    created = ops.post("/subscriptions/", body)
    assert created.status_code == 201, created.content
    uuid = created.json()["uuid"]
    assert created.json()["status"] == "active"
    assert ops.get(f"/subscriptions/{uuid}/").json()["subscriber"] == "alice"
    assert uuid in [s["uuid"] for s in ops.get("/subscriptions/").json()["results"]]
    wrong = ops.post("/subscriptions/", {**body, "organization": str(partner.uuid)})
    assert wrong.status_code == 400 and "organization" in wrong.json()["errors"]
    bad_kind = ops.post("/subscriptions/", {**body, "kind": "lifetime"})
    assert bad_kind.status_code == 400 and "kind" in bad_kind.json()["errors"]
    status_only = ops.post(f"/subscriptions/{uuid}/status/", {"status": "sold"})
    assert status_only.status_code == 400
    assert Subscription.objects.get(uuid=uuid).status == "active"


def test_organizations_create_get_patch(ops, partner):
    created = ops.post("/organizations/", {"name": "Delta", "kind": "customer", "parent": str(partner.uuid),
                                           "billing_email": "b@delta.example"})
    assert created.status_code == 201, created.content
    uuid = created.json()["uuid"]
    assert created.json()["parent"] == str(partner.uuid)
    patched = ops.patch(f"/organizations/{uuid}/", {"name": "Delta Pte"})
    assert patched.status_code == 200 and patched.json()["name"] == "Delta Pte"
    assert ops.get(f"/organizations/{uuid}/").json()["name"] == "Delta Pte"
    assert Organization.objects.get(uuid=uuid).name == "Delta Pte"
    bad = ops.post("/organizations/", {"name": "X", "kind": "customer", "billing_email": "not-an-email"})
    assert bad.status_code == 400 and "billing_email" in bad.json()["errors"]
    assert ops.get("/organizations/3fa85f64-5717-4562-b3fc-2c963f66afa6/").status_code == 404
