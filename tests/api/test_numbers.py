"""Numbers through the API: list, detail, edit, add, the nine actions, next-available, export,
summary — and the history names the key's service user and the remark."""

from __future__ import annotations

import csv
import io

import pytest

from inventory.models import PhoneNumber

from .conftest import url_e164

pytestmark = pytest.mark.django_db


def _states(*e164s: str) -> list[str]:
    return [PhoneNumber.objects.get(e164=e).state for e in e164s]


def test_list_is_cursor_paginated_without_count(ops, make_numbers):
    make_numbers(5)
    page = ops.get("/numbers/", {"limit": 2}).json()
    assert set(page) == {"next", "results"}
    assert [n["e164"] for n in page["results"]] == ["+6560000000", "+6560000001"]
    second = ops.client.get(page["next"]).json()
    assert [n["e164"] for n in second["results"]] == ["+6560000002", "+6560000003"]
    third = ops.client.get(second["next"]).json()
    assert [n["e164"] for n in third["results"]] == ["+6560000004"] and third["next"] is None


@pytest.mark.parametrize("params, field", [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"),
                                           ({"limit": "x"}, "limit"), ({"cursor": "zzz"}, "cursor"),
                                           ({"fields": "e164,secret"}, "fields"),
                                           ({"state": "sold"}, "state"), ({"sku": "NOPE"}, "sku"),
                                           ({"owner": "not-a-uuid"}, "owner"),
                                           ({"number": "+65**[x"}, "number")])
def test_bad_list_parameters_are_400_naming_the_field(ops, make_numbers, params, field):
    make_numbers(1)
    response = ops.get("/numbers/", params)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"] or field in response.json()["detail"]


def test_list_filters_and_fields(ops, make_numbers, customer):
    make_numbers(3)
    make_numbers(1, start="+6561000000", is_golden=True, tags="vip")
    ops.post("/numbers/actions/reserve/", {"numbers": ["+6560000001"], "remark": "r",
                                           "organization": str(customer.uuid)})
    def e164s(params):
        return [n["e164"] for n in ops.get("/numbers/", params).json()["results"]]
    assert e164s({"state": "reserved"}) == ["+6560000001"]
    assert e164s({"owner": str(customer.uuid)}) == ["+6560000001"]
    assert e164s({"golden": "true"}) == ["+6561000000"]
    assert e164s({"tags": "vip"}) == ["+6561000000"]
    assert e164s({"number": "+65600*"}) == ["+6560000000", "+6560000001", "+6560000002"]
    assert e164s({"number": "*0002"}) == ["+6560000002"]
    trimmed = ops.get("/numbers/", {"fields": "e164,state", "limit": 1}).json()["results"]
    assert trimmed == [{"e164": "+6560000000", "state": "available"}]


def test_detail_has_the_current_reservation_and_an_etag(ops, make_numbers, customer):
    make_numbers(1)
    ops.post("/numbers/actions/reserve/", {"numbers": ["+6560000000"], "remark": "order 1",
                                           "organization": str(customer.uuid)})
    response = ops.get(f"/numbers/{url_e164('+6560000000')}/")
    body = response.json()
    assert body["state"] == "reserved" and body["organization"] == str(customer.uuid)
    assert body["reservation"]["kind"] == "manual" and body["reservation"]["ends_at"]
    assert response["ETag"].startswith('"')
    assert ops.get("/numbers/%2B6569999999/").status_code == 404


def test_patch_edits_descriptive_fields_with_history_and_if_match(ops, make_numbers):
    make_numbers(1)
    url = f"/numbers/{url_e164('+6560000000')}/"
    etag = ops.get(url)["ETag"]
    response = ops.patch(url, {"tags": ["vip", "sales"], "notes": "for CRM", "remark": "crm sync"},
                         headers={"If-Match": etag})
    assert response.status_code == 200, response.content
    assert response.json()["tags"] == ["sales", "vip"] and response["ETag"] != etag
    number = PhoneNumber.objects.get(e164="+6560000000")
    last = number.history.first()
    assert last.history_user.username == "api:provisioning" and last.history_change_reason == "crm sync"
    stale = ops.patch(url, {"notes": "lost update", "remark": "x"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert PhoneNumber.objects.get(e164="+6560000000").notes == "for CRM"


@pytest.mark.parametrize("body, field", [({"state": "assigned", "remark": "x"}, "state"),
                                         ({"notes": "x"}, "remark"),
                                         ({"sku": "NOPE", "remark": "x"}, ""),
                                         ({"visible_to": "not-a-uuid", "remark": "x"}, "visible_to")])
def test_patch_refuses_the_state_and_bad_values(ops, make_numbers, body, field):
    make_numbers(1)
    response = ops.patch(f"/numbers/{url_e164('+6560000000')}/", body)
    assert response.status_code == 400, response.content
    if field:
        assert field in response.json()["errors"]
    assert PhoneNumber.objects.get(e164="+6560000000").state == "available"


def test_add_numbers(ops, vendor, sku):
    response = ops.post("/numbers/add/", {"numbers": "+6560000000-+6560000004, +6560000004",
                                          "vendor": vendor.name, "sku": sku.code, "tags": ["new"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["done"]) == 5 and body["refused"] == {}
    again = ops.post("/numbers/add/", {"numbers": ["+6560000000"], "vendor": vendor.name, "sku": sku.code})
    assert again.json()["refused"] == {"+6560000000": "already exists"}
    unknown = ops.post("/numbers/add/", {"numbers": "+6560000010", "vendor": "Nobody", "sku": sku.code})
    assert unknown.status_code == 400 and "Nobody" in unknown.json()["detail"]


def test_every_action_through_the_api(ops, make_numbers, customer, service, make_subscription):
    make_numbers(6)
    did = make_subscription(customer, kind="did_reservation")
    a, b, c, d = "+6560000000", "+6560000001", "+6560000002", "+6560000003"
    def act(action, numbers, **extra):
        response = ops.post(f"/numbers/actions/{action}/", {"numbers": numbers, "remark": action, **extra})
        assert response.status_code == 200, response.content
        return response.json()
    assert act("reserve", [a, b], organization=str(customer.uuid))["done"] == [a, b]
    assert act("extend", [b], did_reservation=str(did.uuid))["done"] == [b]
    assert act("assign", [a], subscription=str(service.uuid))["done"] == [a]
    assert act("lock", [c])["done"] == [c]
    assert act("lock", [c])["unchanged"] == [c]
    assert act("unlock", [c])["done"] == [c]
    assert act("delete", [c], reason="faulty")["done"] == [c]
    assert act("recover", [c])["done"] == [c]
    assert act("reserve", [d], organization=str(customer.uuid))["done"] == [d]
    assert act("release", [d])["done"] == [d]
    refused = act("lock", [a])
    assert refused["done"] == [] and a in refused["refused"]
    assert _states(a, b, c, d) == ["assigned", "reserved", "available", "available"]
    last = PhoneNumber.objects.get(e164=c).history.first()
    assert last.history_user.username == "api:provisioning" and last.history_change_reason == "recover"


@pytest.mark.parametrize("action, body, field", [
    ("reserve", {"numbers": ["+6560000000"], "remark": "x"}, "organization"),
    ("reserve", {"numbers": ["+6560000000"], "remark": "x",
                 "organization": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}, "organization"),
    ("assign", {"numbers": ["+6560000000"], "remark": "x", "subscription": "nope"}, "subscription"),
    ("delete", {"numbers": ["+6560000000"], "remark": "x", "reason": "bored"}, "reason"),
    ("lock", {"numbers": ["+656"], "remark": "x"}, "numbers[0]"),
    ("lock", {"numbers": [], "remark": "x"}, "numbers"),
    ("lock", {"numbers": ["+6560000000"]}, "remark"),
    ("lock", {"numbers": "+6560000000", "remark": "x"}, "numbers"),
])
def test_bad_action_bodies_are_400_naming_the_field(ops, make_numbers, action, body, field):
    make_numbers(1)
    response = ops.post(f"/numbers/actions/{action}/", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert _states("+6560000000") == ["available"]


def test_assign_to_a_did_reservation_is_a_clear_refusal(ops, make_numbers, customer, make_subscription):
    make_numbers(1)
    did = make_subscription(customer, kind="did_reservation")
    response = ops.post("/numbers/actions/assign/", {"numbers": ["+6560000000"], "remark": "x",
                                                     "subscription": str(did.uuid)})
    assert response.status_code == 400 and "service" in response.json()["detail"].lower()
    assert _states("+6560000000") == ["available"]


def test_bulk_action_limit_and_unknown_action(ops):
    numbers = [f"+{6560000000 + i}" for i in range(10_001)]
    assert ops.post("/numbers/actions/lock/", {"numbers": numbers, "remark": "x"}).status_code == 400
    assert ops.post("/numbers/actions/sell/", {"numbers": ["+6560000000"], "remark": "x"}).status_code == 404


def test_set_reserved_for_is_501_until_its_service_lands(ops, make_numbers):
    from inventory import services

    make_numbers(1)
    response = ops.post("/numbers/actions/set-reserved-for/", {"numbers": ["+6560000000"],
                                                               "reserved_for": "alice", "remark": "x"})
    if hasattr(services, "number_set_reserved_for"):
        assert response.status_code == 200
        assert PhoneNumber.objects.get(e164="+6560000000").reserved_for == "alice"
    else:
        assert response.status_code == 501 and "seed-parity" in response.json()["detail"]


def test_next_available_allocates_count_numbers_or_none(ops, make_numbers, service):
    make_numbers(3)
    make_numbers(1, start="+6561000000", is_golden=True)
    body = {"subscription": str(service.uuid), "count": 2, "remark": "order 7"}
    response = ops.post("/numbers/next-available/", body)
    assert response.status_code == 200, response.content
    got = [n["e164"] for n in response.json()["numbers"]]
    assert got == ["+6560000000", "+6560000001"]
    assert _states(*got) == ["assigned", "assigned"]
    too_many = ops.post("/numbers/next-available/", {**body, "count": 2})
    assert too_many.status_code == 409
    assert _states("+6560000002", "+6561000000") == ["available", "available"]  # none taken
    assert ops.post("/numbers/next-available/", {**body, "count": 101}).status_code == 400


def test_export_streams_the_filtered_numbers(ops, make_numbers, customer):
    make_numbers(3)
    ops.post("/numbers/actions/lock/", {"numbers": ["+6560000001"], "remark": "x"})
    response = ops.get("/numbers/export/", {"format": "csv", "state": "locked"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["+6560000001"]
    xlsx = ops.get("/numbers/export/", {"format": "xlsx"})
    assert xlsx.status_code == 200 and b"".join(xlsx.streaming_content)[:2] == b"PK"
    assert ops.get("/numbers/export/", {"format": "pdf"}).status_code == 400


def test_summary_counts(ops, make_numbers):
    make_numbers(3)
    ops.post("/numbers/actions/lock/", {"numbers": ["+6560000001"], "remark": "x"})
    body = ops.get("/summary/").json()
    assert body["by_state"] == {"available": 2, "locked": 1}
    assert body["by_country"] == {"SG": {"available": 2, "locked": 1}}
    assert body["by_vendor"] == {"Singtel Wholesale": {"available": 2, "locked": 1}}


def test_malformed_bodies_are_4xx_problems(ops, make_numbers, settings):
    make_numbers(1)
    url = "/api/v1/numbers/actions/lock/"
    not_json = ops.client.post(url, "{nope", content_type="application/json")
    assert not_json.status_code == 400 and not_json["Content-Type"] == "application/problem+json"
    wrong_type = ops.client.post(url, "numbers=1", content_type="text/plain")
    assert wrong_type.status_code == 415
    settings.API_MAX_BODY_BYTES = 100
    too_big = ops.post("/numbers/actions/lock/", {"numbers": ["+6560000000"] * 20, "remark": "x"})
    assert too_big.status_code == 413
    assert ops.client.put("/api/v1/numbers/").status_code == 405
    assert _states("+6560000000") == ["available"]
