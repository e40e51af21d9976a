"""events_emit: what a service's change leaves in the event log and the webhook outbox, and
what a partner's feed shows of it."""

from __future__ import annotations

import pytest
from django.db import transaction

from events.choices import EventType
from events.models import Event, EventOrganization, WebhookDelivery
from events.selectors import (
    PartnerView,
    event_serialize,
    event_serialize_for_partner,
    events_for_ops,
    events_for_partner,
)
from events.services import (
    NumberChange,
    NumberSnapshot,
    events_emit,
    webhook_endpoint_create,
    webhook_endpoint_update,
)
from inventory.services import number_reserve

pytestmark = pytest.mark.django_db


def reserve(numbers, organization, actor):
    """Reserve like an ops user would, and say what changed as a service will."""
    before = {n.pk: NumberSnapshot.of(n) for n in numbers}
    result = number_reserve(numbers=numbers, organization=organization, actor=actor, remark="for Beta")
    # The services' own events (the adds, this reserve: tests/events/test_wiring.py) are not
    # what these tests are about: only the events their own events_emit calls write.
    Event.objects.all().delete()
    return [NumberChange(n.e164, before[n.pk], NumberSnapshot.of(n)) for n in result.done]


def test_one_event_per_call_with_each_numbers_before_and_after(make_numbers, customer, partner, ops_user):
    numbers = make_numbers(3)
    changes = reserve(numbers, customer, ops_user)

    with transaction.atomic():
        (event,) = events_emit(type=EventType.NUMBER_RESERVED, numbers_before_after=changes,
                               actor=ops_user, remark="for Beta")

    assert Event.objects.count() == 1
    body = event_serialize(Event.objects.get())
    assert body["type"] == "number.reserved" and body["actor"] == "ops" and body["remark"] == "for Beta"
    assert body["data"]["count"] == 3
    first = body["data"]["numbers"][0]
    assert first["e164"] == numbers[0].e164
    assert first["before"] == {"state": "available", "organization": None, "subscription": None,
                               "expires_at": None, "reserved_for": "", "visible_to": None}
    assert first["after"]["state"] == "reserved"
    assert first["after"]["organization"] == str(customer.uuid)
    assert first["after"]["expires_at"]  # the reservation's end, as ISO 8601
    # The customer and its partner both see it in their feeds.
    assert set(EventOrganization.objects.values_list("organization_id", flat=True)) == {
        customer.pk, partner.pk}


def test_a_big_sweep_is_split_into_events_of_at_most_1000_numbers_with_few_queries(
        customer, partner, django_assert_max_num_queries):
    after = NumberSnapshot(state="available", visible_to_id=partner.pk)
    changes = [NumberChange(f"+{6560000000 + i}", NumberSnapshot(state="reserved",
                            organization_id=customer.pk), after) for i in range(2500)]

    with django_assert_max_num_queries(8):  # lookups, events, scopes, endpoints, deliveries
        events = events_emit(type=EventType.NUMBER_EXPIRED, numbers_before_after=changes, actor=None)

    assert [e.data["count"] for e in Event.objects.order_by("pk")] == [1000, 1000, 500]
    assert [e.pk for e in events] == list(Event.objects.order_by("pk").values_list("pk", flat=True))
    assert all(e.actor_name == "system" and e.actor_id is None for e in Event.objects.all())
    seen = [n["e164"] for e in Event.objects.order_by("pk") for n in e.data["numbers"]]
    assert seen == [c.e164 for c in changes]  # every number exactly once, in order


def test_an_empty_change_writes_nothing(service, ops_user, admin_user, webhook_settings):
    webhook_endpoint_create(url="http://127.0.0.1:9/x", actor=admin_user)

    assert events_emit(type=EventType.NUMBER_RELEASED, numbers_before_after=[], actor=ops_user,
                       remark="x") == []
    unchanged = {"status": service.status, "current_period_end": service.current_period_end}
    assert events_emit(type=EventType.SUBSCRIPTION_STATUS_CHANGED, subscription=service,
                       subscription_before=unchanged, actor=ops_user) == []
    assert events_emit(type=EventType.IMPORT_FINISHED, data={}, actor=ops_user) == []
    assert not Event.objects.exists() and not WebhookDelivery.objects.exists()


def test_a_subscription_status_change_is_one_event_in_its_organizations_feeds(
        service, customer, partner, ops_user):
    before = {"status": "active", "current_period_end": service.current_period_end}
    service.status = "suspended"

    (event,) = events_emit(type=EventType.SUBSCRIPTION_STATUS_CHANGED, subscription=service,
                           subscription_before=before, actor=ops_user, remark="unpaid")

    sub = event.data["subscription"]
    assert sub["uuid"] == str(service.uuid) and sub["status"] == "suspended"
    assert sub["before"]["status"] == "active" and sub["organization"] == str(customer.uuid)
    assert list(events_for_partner(partner)) == [event]


def test_deliveries_only_for_active_endpoints_that_want_the_type_and_may_see_it(
        make_numbers, customer, partner, other_partner, ops_user, admin_user, webhook_settings):
    url = "http://127.0.0.1:9/hook"
    every = webhook_endpoint_create(url=url, actor=admin_user)
    reserved_only = webhook_endpoint_create(url=url, actor=admin_user, event_types=["number.reserved"])
    locked_only = webhook_endpoint_create(url=url, actor=admin_user, event_types=["number.locked"])
    inactive = webhook_endpoint_create(url=url, actor=admin_user)
    webhook_endpoint_update(endpoint=inactive, actor=admin_user, active=False)
    own_partner = webhook_endpoint_create(url=url, actor=admin_user, partner=partner)
    foreign_partner = webhook_endpoint_create(url=url, actor=admin_user, partner=other_partner)

    (event,) = events_emit(type=EventType.NUMBER_RESERVED, actor=ops_user, remark="r",
                           numbers_before_after=reserve(make_numbers(2), customer, ops_user))

    assert set(event.deliveries.values_list("endpoint_id", flat=True)) == {
        every.pk, reserved_only.pk, own_partner.pk}
    assert locked_only.pk and inactive.pk and foreign_partner.pk  # and none for these
    assert event.deliveries.filter(status="pending").count() == 3


def test_the_partner_feed_shows_only_its_numbers_and_nothing_of_others(
        make_numbers, customer, partner, other_customer, other_partner, ops_user):
    mine = make_numbers(2, start="+6560000000")
    theirs = make_numbers(2, start="+6560000100")
    visible = make_numbers(1, start="+6560000200", visible_to=other_partner)
    changes = reserve(mine, customer, ops_user) + reserve(theirs, other_customer, ops_user)
    # An available number visible to the other partner, released from this partner's customer.
    held = NumberSnapshot(state="reserved", organization_id=customer.pk)
    changes.append(NumberChange(visible[0].e164, held, NumberSnapshot.of(visible[0])))
    (mixed,) = events_emit(type=EventType.NUMBER_RESERVED, numbers_before_after=changes,
                           actor=ops_user, remark="ops-only remark")
    (only_theirs,) = events_emit(type=EventType.NUMBER_RESERVED, actor=ops_user, remark="x",
                                 numbers_before_after=changes[2:4])

    assert list(events_for_partner(partner)) == [mixed]
    assert list(events_for_partner(other_partner)) == [mixed, only_theirs]
    assert list(events_for_partner(other_partner, after=mixed.pk)) == [only_theirs]
    assert list(events_for_partner(partner, types=["number.locked"])) == []
    assert list(events_for_ops(after=mixed.pk)) == [only_theirs]

    body = event_serialize_for_partner(mixed, view=PartnerView.of(partner))
    assert "remark" not in body and "actor" not in body
    assert [n["e164"] for n in body["data"]["numbers"]] == [*(n.e164 for n in mine), visible[0].e164]
    released = body["data"]["numbers"][-1]
    assert released["before"]["organization"] == str(customer.uuid)
    # Now available to the other partner: this partner sees the state, not whose it is.
    assert released["after"] == {"state": "available", "organization": None, "subscription": None,
                                 "expires_at": None, "reserved_for": "", "visible_to": None}
    text = str(body)
    assert str(other_customer.uuid) not in text and str(other_partner.uuid) not in text
    assert "ops-only remark" not in text


def test_a_body_keeps_every_character_of_its_values(customer, partner, service):
    """The bodies are spelled from each side's JSON and sent as one escaped array: quotes,
    backslashes, newlines and other scripts come back as they went in."""
    odd = 'for "Ops" \\ team\nünïcødé ☎'
    reserved = NumberSnapshot(state="reserved", organization_id=customer.pk, reserved_for=odd)
    available = NumberSnapshot(state="available", visible_to_id=partner.pk)
    changes = [NumberChange("+6560000001", available, reserved),
               NumberChange("+6560000002", reserved, available),
               NumberChange("+6560000003", None, available)]

    with transaction.atomic():
        (event,) = events_emit(type=EventType.NUMBER_RESERVED, numbers_before_after=changes,
                               actor=None, remark='a "remark" \\', subscription=service,
                               data={"cause": 'odd "cause"'})

    held = {"state": "reserved", "organization": str(customer.uuid), "subscription": None,
            "expires_at": None, "reserved_for": odd, "visible_to": None}
    free = {"state": "available", "organization": None, "subscription": None, "expires_at": None,
            "reserved_for": "", "visible_to": str(partner.uuid)}
    expected = {"cause": 'odd "cause"', "subscription": str(service.uuid), "count": 3, "numbers": [
        {"e164": "+6560000001", "before": free, "after": held},
        {"e164": "+6560000002", "before": held, "after": free},
        {"e164": "+6560000003", "before": None, "after": free}]}
    assert Event.objects.get().data == expected
    assert event.data == expected  # loaded on first use where it was sent as text
    assert Event.objects.get().remark == 'a "remark" \\'


def test_a_number_that_is_not_plain_e164_is_still_encoded(customer):
    """Services only tell valid E.164 numbers; should another spelling reach an event, it is
    encoded rather than pasted into the JSON."""
    after = NumberSnapshot(state="available")
    changes = [NumberChange('+65"1\\', None, after), NumberChange("+6560000002", None, after)]

    with transaction.atomic():
        events_emit(type=EventType.NUMBER_ADDED, numbers_before_after=changes, actor=None)

    assert [n["e164"] for n in Event.objects.get().data["numbers"]] == ['+65"1\\', "+6560000002"]
