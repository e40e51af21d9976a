"""The seed-parity rules through the API (issue 12): reserved-for set by a key, a suspended
subscription's numbers held (routing unreachable) and back, onboarding on create, the
subscription PATCH and its refusals, the after-hold attributes, and the seeds' state words."""

from __future__ import annotations

import pytest

from inventory.models import PhoneNumber
from subscriptions.models import Subscription

from .conftest import url_e164

pytestmark = pytest.mark.django_db
A, B, C = "+6560000000", "+6560000001", "+6560000002"


def _number(e164: str) -> PhoneNumber:
    return PhoneNumber.objects.get(e164=e164)


def _assign(ops, numbers, sub) -> None:
    response = ops.post("/numbers/actions/assign/", {"numbers": numbers, "remark": "sold",
                                                     "subscription": str(sub.uuid)})
    assert response.json()["done"] == numbers, response.content


def _ops_without(codename: str) -> list[str]:
    from django.contrib.auth.models import Group

    return [f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name="Ops").permissions.select_related("content_type")
            if p.codename != codename]


def test_set_reserved_for_needs_its_own_permission_and_keeps_the_history(ops, make_key, make_numbers):
    make_numbers(2)
    body = {"numbers": [A, B], "reserved_for": "alice", "remark": "VOSS: kept for alice"}
    without, _ = make_key("no-reserved-for", permissions=_ops_without("set_reserved_for_number"))
    refused = without.post("/numbers/actions/set-reserved-for/", body)
    assert refused.status_code == 403
    assert "inventory.set_reserved_for_number" in refused.json()["detail"]
    assert _number(A).reserved_for == ""

    response = ops.post("/numbers/actions/set-reserved-for/", body)
    assert response.status_code == 200, response.content
    assert response.json() == {"done": [A, B], "unchanged": [], "refused": {}}
    number = _number(A)
    assert (number.reserved_for, number.state) == ("alice", "available")
    last = number.history.first()
    assert (last.history_user.username, last.history_change_reason) == ("api:provisioning",
                                                                       "VOSS: kept for alice")
    assert ops.get(f"/numbers/{url_e164(A)}/").json()["reserved_for"] == "alice"

    cleared = ops.post("/numbers/actions/set-reserved-for/", {**body, "numbers": [A], "reserved_for": ""})
    assert cleared.json()["done"] == [A]
    assert (_number(A).reserved_for, _number(B).reserved_for) == ("", "alice")
    missing = ops.post("/numbers/actions/set-reserved-for/", {"numbers": [A], "remark": "x"})
    assert missing.status_code == 400 and "reserved_for" in missing.json()["errors"]


def test_suspend_holds_the_numbers_unreachable_and_reactivate_assigns_them_again(ops, make_numbers,
                                                                                 service):
    make_numbers(3)
    _assign(ops, [A, B], service)
    suspended = ops.post(f"/subscriptions/{service.uuid}/status/", {"status": "suspended"})
    assert suspended.status_code == 200, suspended.content
    assert suspended.json()["subscription"]["status"] == "suspended"
    assert suspended.json()["moved"] == [A, B]

    detail = ops.get(f"/numbers/{url_e164(A)}/").json()
    assert (detail["state"], detail["routing_reachable"]) == ("hold", False)
    assert detail["subscription"] == str(service.uuid)
    assert detail["after_hold_state"] == "reserved" and detail["hold_days"] is None
    listed = ops.get("/numbers/", {"state": "Hold"}).json()["results"]
    assert [(n["e164"], n["routing_reachable"]) for n in listed] == [(A, False), (B, False)]
    free = ops.get(f"/numbers/{url_e164(C)}/").json()
    assert (free["state"], free["routing_reachable"]) == ("available", True)
    assert ops.get("/summary/").json()["by_state"] == {"hold": 2, "available": 1}

    active = ops.post(f"/subscriptions/{service.uuid}/status/", {"status": "active"})
    assert active.status_code == 200, active.content
    assert active.json()["moved"] == [A, B]
    for e164 in (A, B):
        back = ops.get(f"/numbers/{url_e164(e164)}/").json()
        assert (back["state"], back["routing_reachable"], back["subscription"]) == (
            "assigned", True, str(service.uuid))
    assert _number(A).history.first().history_user.username == "api:provisioning"


def test_a_subscription_created_with_a_subscriber_gets_the_numbers_kept_for_that_username(
        ops, make_numbers, customer):
    make_numbers(3)
    kept = ops.post("/numbers/actions/set-reserved-for/", {"numbers": [A, B], "reserved_for": "alice",
                                                           "remark": "kept"})
    assert kept.json()["done"] == [A, B]
    created = ops.post("/subscriptions/", {"organization": str(customer.uuid), "kind": "service",
                                           "plan": "Business DID", "number_allowance": 1,
                                           "current_period_end": "2031-01-01T00:00:00Z",
                                           "subscriber": "alice"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["subscriber"] == "alice" and body["onboarded"] == [A]
    assert list(body["not_onboarded"]) == [B] and "allowance" in body["not_onboarded"][B]
    sub = Subscription.objects.get(uuid=body["uuid"])
    assert (_number(A).state, _number(A).subscription) == ("assigned", sub)
    assert (_number(B).state, _number(C).state) == ("available", "available")

    # A larger allowance through PATCH onboards the rest (never C: kept for nobody).
    more = ops.patch(f"/subscriptions/{sub.uuid}/", {"number_allowance": 5, "remark": "upgrade"})
    assert more.status_code == 200, more.content
    assert more.json()["onboarded"] == [B] and more.json()["number_allowance"] == 5
    assert (_number(B).subscription, _number(C).state) == (sub, "available")


def test_subscription_patch_changes_through_the_service_and_refuses_naming_the_field(
        ops, make_numbers, make_subscription, customer, other_customer):
    make_numbers(3)
    sub = make_subscription(customer, allowance=5)
    _assign(ops, [A, B, C], sub)

    low = ops.patch(f"/subscriptions/{sub.uuid}/", {"number_allowance": 2, "remark": "downgrade"})
    assert low.status_code == 409, low.content
    assert low["Content-Type"] == "application/problem+json"
    assert list(low.json()["errors"]) == ["number_allowance"]
    assert "holds 3 numbers" in low.json()["detail"]
    moved = ops.patch(f"/subscriptions/{sub.uuid}/", {"organization": str(other_customer.uuid),
                                                      "kind": "did_reservation"})
    assert moved.status_code == 409 and set(moved.json()["errors"]) == {"organization", "kind"}
    sub.refresh_from_db()
    assert (sub.number_allowance, sub.organization, sub.kind) == (5, customer, "service")

    renamed = ops.patch(f"/subscriptions/{sub.uuid}/", {"plan": "Business DID Plus",
                                                        "number_allowance": 3, "remark": "CRM"})
    assert renamed.status_code == 200, renamed.content
    assert (renamed.json()["plan"], renamed.json()["number_allowance"]) == ("Business DID Plus", 3)
    last = sub.history.first()
    assert (last.history_user.username, last.history_change_reason) == ("api:provisioning", "CRM")

    for body, field in [({"status": "expired"}, "status"),
                        ({"current_period_end": "2031-01-01T00:00:00Z"}, "current_period_end"),
                        ({"remark": "nothing"}, ""), ({"number_allowance": -1}, "number_allowance"),
                        ({"organization": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}, "organization")]:
        refused = ops.patch(f"/subscriptions/{sub.uuid}/", body)
        assert refused.status_code == 400 and field in refused.json()["errors"], (body, refused.content)
    sub.refresh_from_db()
    assert (sub.status, sub.plan) == ("active", "Business DID Plus")
    assert ops.patch("/subscriptions/3fa85f64-5717-4562-b3fc-2c963f66afa6/", {"plan": "x"}).status_code == 404


def test_after_hold_state_and_hold_days_on_add_and_patch(ops, make_numbers):
    added = ops.post("/numbers/add/", {"numbers": "+6562000000-+6562000001", "vendor": "Singtel Wholesale",
                                       "sku": "SG-DID-STD", "after_hold_state": "available",
                                       "hold_days": 7})
    assert added.status_code == 200 and added.json()["done"] == ["+6562000000", "+6562000001"]
    number = ops.get("/numbers/%2B6562000000/").json()
    assert (number["after_hold_state"], number["hold_days"]) == ("available", 7)

    patched = ops.patch("/numbers/%2B6562000000/", {"after_hold_state": "deleted", "hold_days": None,
                                                     "remark": "archive when the hold ends"})
    assert patched.status_code == 200, patched.content
    assert (patched.json()["after_hold_state"], patched.json()["hold_days"]) == ("deleted", None)
    row = _number("+6562000000")
    assert (row.after_hold_state, row.hold_days) == ("deleted", None)
    for body, field in [({"after_hold_state": "sold", "remark": "x"}, "after_hold_state"),
                        ({"hold_days": 4000, "remark": "x"}, "hold_days")]:
        bad = ops.patch("/numbers/%2B6562000001/", body)
        assert bad.status_code == 400 and field in bad.json()["errors"], bad.content
    bad_add = ops.post("/numbers/add/", {"numbers": "+6562000005", "vendor": "Singtel Wholesale",
                                         "sku": "SG-DID-STD", "hold_days": -1})
    assert bad_add.status_code == 400 and "hold_days" in bad_add.json()["errors"]
    assert not PhoneNumber.objects.filter(e164="+6562000005").exists()
    assert (_number("+6562000001").after_hold_state, _number("+6562000001").hold_days) == ("available", 7)


def test_the_state_filter_takes_the_seeds_words(ops, make_numbers):
    make_numbers(3)
    ops.post("/numbers/actions/lock/", {"numbers": [B], "remark": "x"})
    ops.post("/numbers/actions/delete/", {"numbers": [C], "remark": "x", "reason": "archived"})

    def listed(state) -> list[str]:
        response = ops.get("/numbers/", {"state": state})
        assert response.status_code == 200, response.content
        return [n["e164"] for n in response.json()["results"]]

    assert ops.client.get("/api/v1/numbers/?state=In%20stock").json()["results"][0]["e164"] == A
    assert listed("In stock") == [A] and listed("in STOCK") == [A] and listed("available") == [A]
    assert listed("Blocked") == [B] and listed("Archive") == [C]
    assert listed(["In stock", "Blocked"]) == [A, B]
    unknown = ops.get("/numbers/", {"state": "Sold"})
    assert unknown.status_code == 400 and "state" in unknown.json()["errors"]
