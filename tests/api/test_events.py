"""GET /api/v1/events/: the pull feed. In commit order (within one test's transaction: by id),
resumable from `after` (an event's id) or the `next` link, filtered by type; a partner key
sees only events about its numbers, and of those only its numbers, never a remark, an actor
or another organization."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Max

from events.models import Event
from events.services import NumberChange, NumberSnapshot, events_emit
from inventory.models import PhoneNumber
from inventory.services import TransitionResult, number_lock, number_release, number_reserve

pytestmark = pytest.mark.django_db
A, B, C = "+6560000000", "+6560000001", "+6560000002"


def change(event_type: str, service: Callable[..., TransitionResult], e164s: list[str],
           **kwargs) -> list[Event]:
    """Call a real service and return the events it wrote. While the services are being wired
    to write their events, write the one the service will (as tests/events does) if it wrote none."""
    numbers = list(PhoneNumber.objects.filter(e164__in=e164s).order_by("pk"))
    before = {n.pk: NumberSnapshot.of(n) for n in numbers}
    last = Event.objects.aggregate(last=Max("pk"))["last"] or 0
    with transaction.atomic():
        result = service(numbers=numbers, **kwargs)
        if not Event.objects.filter(pk__gt=last).exists():
            done = PhoneNumber.objects.filter(pk__in=[n.pk for n in result.done]).order_by("pk")
            events_emit(type=event_type, actor=kwargs.get("actor"), remark=kwargs.get("remark", ""),
                        numbers_before_after=[NumberChange(n.e164, before[n.pk], NumberSnapshot.of(n))
                                              for n in done])
    return list(Event.objects.filter(pk__gt=last).order_by("pk"))


@pytest.fixture
def history(make_numbers, customer, other_customer, ops_user):
    """A reserved for our partner's customer, B for the other partner's (with a remark only
    ops may read), C locked, then A and B released in one call."""
    make_numbers(3)
    start = Event.objects.aggregate(last=Max("pk"))["last"] or 0  # after number.added, if written
    change("number.reserved", number_reserve, [A], organization=customer, actor=ops_user,
           remark="for Beta")
    change("number.reserved", number_reserve, [B], organization=other_customer, actor=ops_user,
           remark="Gamma's confidential order")
    change("number.locked", number_lock, [C], actor=ops_user, remark="porting check")
    change("number.released", number_release, [A, B], actor=ops_user, remark="clean-up")
    return list(Event.objects.filter(pk__gt=start).order_by("pk"))


def test_the_feed_is_in_order_and_resumes_after_the_last_id(ops, history):
    start = history[0].pk - 1
    ids = [e.pk for e in history]

    first = ops.get("/events/", {"after": start, "limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [e["id"] for e in page["results"]] == ids[:2]
    assert f"after={ids[1]}" in page["next"]
    second = ops.client.get(page["next"]).json()  # the link as given, absolute
    assert [e["id"] for e in second["results"]] == ids[2:4]
    assert second["next"] is None  # the end of the feed so far

    # A consumer that kept the last id it processed resumes from it, and sees what came since.
    assert [e["id"] for e in ops.get("/events/", {"after": ids[0]}).json()["results"]] == ids[1:]
    assert ops.get("/events/", {"after": ids[-1]}).json() == {"next": None, "results": []}


def test_after_must_name_an_event_or_be_zero(ops, make_key, partner, history):
    """`after` is a place in the feed's order, which only an event has: an id that names none
    (never written, or mistyped) is refused, naming the parameter, not guessed at; 0 is the
    start. The partner feed takes any event's id (the `next` links only give its own)."""
    everything = ops.get("/events/").json()["results"]
    assert [e["id"] for e in ops.get("/events/", {"after": 0}).json()["results"]] \
        == [e["id"] for e in everything]
    missing = max(e["id"] for e in everything) + 1
    ours = make_key("acme-portal", partner=partner.domain)[0]
    for api in (ops, ours):
        refused = api.get("/events/", {"after": missing})
        assert refused.status_code == 400
        assert refused["Content-Type"] == "application/problem+json"
        (message,) = refused.json()["errors"]["after"]
        assert f"No event has the id {missing}" in message and "next" in message
    other = history[2]  # number.locked: not about the partner's numbers
    assert [e["type"] for e in ours.get("/events/", {"after": other.pk}).json()["results"]] \
        == ["number.released"]


def test_an_ops_key_sees_every_field_of_the_event(ops, history, customer):
    reserved = ops.get("/events/", {"after": history[0].pk - 1, "limit": 1}).json()["results"][0]
    assert reserved["type"] == "number.reserved"
    assert reserved["actor"] == "ops" and reserved["remark"] == "for Beta"
    (item,) = reserved["data"]["numbers"]
    assert item["e164"] == A
    assert item["before"]["state"] == "available"
    assert item["after"]["state"] == "reserved" and item["after"]["organization"] == str(customer.uuid)


def test_types_filter_and_its_refusals(ops, history):
    wanted = ops.get("/events/", {"types": "number.locked,number.released"}).json()["results"]
    assert [e["type"] for e in wanted] == ["number.locked", "number.released"]

    for params, field in [({"types": "number.locked,number.teleported"}, "types"),
                          ({"after": "-1"}, "after"), ({"after": "latest"}, "after"),
                          ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit")]:
        refused = ops.get("/events/", params)
        assert refused.status_code == 400, params
        assert refused["Content-Type"] == "application/problem+json"
        assert field in refused.json()["errors"], params
    unknown = ops.get("/events/", {"types": "number.teleported"}).json()
    assert "number.teleported" in unknown["errors"]["types"][0]


def test_a_partner_key_sees_only_events_about_its_numbers_and_nothing_ops_only(
        make_key, history, partner, other_partner, customer, other_customer):
    ours = make_key("acme-portal", partner=partner.domain)[0]
    theirs = make_key("other-portal", partner=other_partner.domain)[0]

    response = ours.get("/events/")
    assert response.status_code == 200
    events = response.json()["results"]
    assert [e["type"] for e in events] == ["number.reserved", "number.released"]
    for event in events:
        assert "remark" not in event and "actor" not in event
        assert [n["e164"] for n in event["data"]["numbers"]] == [A]
    text = response.content.decode()
    for secret in (B, C, str(other_customer.uuid), str(other_partner.uuid), "Gamma", "for Beta",
                   "clean-up"):
        assert secret not in text
    assert events[0]["data"]["numbers"][0]["after"]["organization"] == str(customer.uuid)

    # The other partner sees its own number in the shared release event, and never A.
    other = theirs.get("/events/").json()["results"]
    assert [e["type"] for e in other] == ["number.reserved", "number.released"]
    assert all([n["e164"] for n in e["data"]["numbers"]] == [B] for e in other)
    assert str(customer.uuid) not in theirs.get("/events/").content.decode()

    # Filters and resuming work in the partner's scope too.
    assert [e["type"] for e in ours.get("/events/", {"types": "number.released"}).json()["results"]] \
        == ["number.released"]
    assert ours.get("/events/", {"after": events[-1]["id"]}).json()["results"] == []


def test_the_feed_needs_a_key_with_the_view_event_permission(make_key, anonymous, history):
    assert anonymous.get("/events/").status_code == 401
    numbers_only = make_key("numbers-only", permissions=["inventory.view_phonenumber"])[0]
    refused = numbers_only.get("/events/")
    assert refused.status_code == 403 and "events.view_event" in refused.json()["detail"]
    reader = make_key("reader", group="Ops read-only")[0]
    assert reader.get("/events/").status_code == 200


def test_the_ops_groups_get_the_events_and_api_permissions():
    ops = set(Group.objects.get(name="Ops").permissions.values_list(
        "content_type__app_label", "codename"))
    assert {("events", "view_event"), ("events", "view_webhookendpoint"),
            ("events", "add_webhookendpoint"), ("events", "change_webhookendpoint"),
            ("events", "replay_webhookdelivery"), ("events", "rotate_webhookendpoint_secret"),
            ("api", "view_apikey")} <= ops
    readonly = set(Group.objects.get(name="Ops read-only").permissions.values_list(
        "content_type__app_label", "codename"))
    assert {("events", "view_event"), ("events", "view_webhookendpoint")} <= readonly
    assert all(codename.startswith("view_") for _, codename in readonly), readonly
