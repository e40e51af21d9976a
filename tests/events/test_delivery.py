"""Webhook delivery to a real HTTP receiver on localhost: signatures verified with the
`standardwebhooks` library, retries driven by an explicit `now`, 410, replay, bounds."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from events.choices import EventType
from events.models import DeliveryAttempt, WebhookDelivery
from events.services import (
    NumberChange,
    NumberSnapshot,
    events_emit,
    webhook_deliveries_send,
    webhook_delivery_replay,
    webhook_endpoint_create,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_url_validate,
)

pytestmark = pytest.mark.django_db


def emit(customer, *, count: int = 1, start: int = 6560000000, remark: str = "for Beta"):
    changes = [NumberChange(f"+{start + i}", NumberSnapshot(state="available"),
                            NumberSnapshot(state="reserved", organization_id=customer.pk))
               for i in range(count)]
    return events_emit(type=EventType.NUMBER_RESERVED, numbers_before_after=changes, actor=None,
                       remark=remark)


def verify(secret: str, received) -> dict:
    return Webhook(secret).verify(received.body, received.headers)


def test_a_delivery_is_signed_per_standard_webhooks_and_verifies(endpoint, receiver, customer):
    (event,) = emit(customer)

    assert webhook_deliveries_send() == 1

    (got,) = receiver.messages()
    body = verify(endpoint.secret, got)
    assert body["id"] == event.pk and body["type"] == "number.reserved"
    assert body["data"]["numbers"][0]["after"]["organization"] == str(customer.uuid)
    assert got.headers["webhook-id"] == f"evt_{event.pk}"
    assert got.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        verify(webhook_endpoint_create(url=receiver.url, actor=None).secret, got)  # another secret
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code == 200 and attempt.response == "ok"


def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new(
        endpoint, receiver, customer, admin_user):
    old = endpoint.secret
    emit(customer)
    now = timezone.now()
    new = webhook_endpoint_rotate_secret(endpoint=endpoint, actor=admin_user, now=now)
    assert new.startswith("whsec_") and new != old

    webhook_deliveries_send(now=now)

    (got,) = receiver.messages()
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert verify(old, got) and verify(new, got)

    emit(customer, start=6561000000)
    webhook_deliveries_send(now=now + dt.timedelta(hours=25))  # the overlap (24 h) is over
    later = receiver.messages()[1]
    assert verify(new, later)
    with pytest.raises(WebhookVerificationError):
        verify(old, later)


def test_a_receiver_that_is_down_gets_the_delivery_once_it_is_back(endpoint, receiver, customer):
    receiver.stop()
    (event,) = emit(customer)
    t0 = timezone.now()

    assert webhook_deliveries_send(now=t0) == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.next_attempt_at == t0 + dt.timedelta(seconds=10)  # the schedule's first step
    assert "ConnectError" in delivery.last_error
    assert webhook_deliveries_send(now=t0 + dt.timedelta(seconds=9)) == 0  # not due yet
    assert DeliveryAttempt.objects.count() == 1

    receiver.start()
    assert webhook_deliveries_send(now=t0 + dt.timedelta(seconds=10)) == 1

    (got,) = receiver.messages()
    assert verify(endpoint.secret, got)["id"] == event.pk
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert DeliveryAttempt.objects.filter(delivery=delivery).count() == 2


def test_after_the_last_retry_the_delivery_is_failed_and_a_replay_sends_it(
        endpoint, receiver, customer, admin_user):
    receiver.answer = lambda r: (503, b"maintenance", 0.0)
    emit(customer)
    t = timezone.now()
    for step in (0, 10, 60, 300):  # the first try and the schedule's three retries
        t += dt.timedelta(seconds=step)
        webhook_deliveries_send(now=t)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 4, 503)
    assert delivery.last_error == "answered HTTP 503"
    assert webhook_deliveries_send(now=t + dt.timedelta(days=9)) == 0
    assert len(receiver.messages()) == 4

    receiver.answer = lambda r: (204, b"", 0.0)
    assert webhook_delivery_replay(actor=admin_user, deliveries=WebhookDelivery.objects.all(), now=t) == 1
    assert webhook_deliveries_send(now=t) == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.replayed_by == admin_user
    ids = {r.headers["webhook-id"] for r in receiver.messages()}
    assert ids == {f"evt_{delivery.event_id}"}  # the same webhook-id every time: dedup works


def test_410_disables_the_endpoint_and_its_pending_deliveries(endpoint, receiver, customer):
    receiver.answer = lambda r: (410, b"gone", 0.0)
    emit(customer)
    emit(customer, start=6561000000)

    assert webhook_deliveries_send(limit=1) == 0

    endpoint.refresh_from_db()
    assert not endpoint.active
    assert "410" in endpoint.disabled_reason
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) == ["disabled", "disabled"]
    emit(customer, start=6562000000)
    assert not WebhookDelivery.objects.filter(status="pending").exists()  # nothing more owed
    assert webhook_deliveries_send() == 0 and len(receiver.messages()) == 1


def test_replay_since_sends_what_an_inactive_endpoint_missed(endpoint, receiver, customer, admin_user):
    t0 = timezone.now()
    webhook_endpoint_update(endpoint=endpoint, actor=admin_user, active=False)
    (missed,) = emit(customer)
    with pytest.raises(ValidationError, match="inactive"):
        webhook_delivery_replay(actor=admin_user, endpoint=endpoint, since=t0)

    webhook_endpoint_update(endpoint=endpoint, actor=admin_user, active=True)
    assert webhook_delivery_replay(actor=admin_user, endpoint=endpoint, since=t0) == 1
    assert webhook_deliveries_send() == 1
    assert verify(endpoint.secret, receiver.messages()[0])["id"] == missed.pk
    # Delivered ones are sent again too when asked; events before `since` are not.
    assert webhook_delivery_replay(actor=admin_user, endpoint=endpoint, since=t0) == 1
    assert webhook_delivery_replay(actor=admin_user, endpoint=endpoint,
                                   since=timezone.now() + dt.timedelta(seconds=1)) == 0


def test_a_partner_endpoint_receives_only_its_numbers_without_remarks(
        webhook_settings, receiver, customer, other_customer, partner, admin_user):
    hook = webhook_endpoint_create(url=receiver.url, actor=admin_user, partner=partner)
    changes = [NumberChange("+6560000001", NumberSnapshot(state="available"),
                            NumberSnapshot(state="reserved", organization_id=customer.pk)),
               NumberChange("+6560000002", NumberSnapshot(state="available"),
                            NumberSnapshot(state="reserved", organization_id=other_customer.pk))]
    events_emit(type=EventType.NUMBER_RESERVED, numbers_before_after=changes, actor=admin_user,
                remark="secret deal")

    webhook_deliveries_send()

    body = verify(hook.secret, receiver.messages()[0])
    assert [n["e164"] for n in body["data"]["numbers"]] == ["+6560000001"]
    assert "secret deal" not in json.dumps(body) and "admin" not in json.dumps(body)


@pytest.mark.parametrize("url, reason", [
    ("ftp://hooks.example.com/x", "must be an https:// URL"),
    ("http://hooks.example.com/x", "must use https"),
    ("https://127.0.0.1/x", "loopback"),
    ("https://localhost:8443/x", "loopback"),
    ("https://10.1.2.3/x", "private"),
    ("https://192.168.0.10/x", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[::1]/x", "loopback"),
    ("https://[::ffff:10.0.0.1]/x", "private"),
    ("https://0.0.0.0/x", "cannot receive"),
    ("https://user:pw@hooks.example.com/x", "user name or password"),
    ("https://no-such-host.invalid/x", "does not resolve"),
    ("https:///x", "has no host"),
])
def test_urls_that_may_not_receive_events_are_refused_with_the_reason(settings, url, reason):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.DEBUG = False
    with pytest.raises(ValidationError) as exc:
        webhook_endpoint_create(url=url, actor=None)
    assert reason in exc.value.message_dict["url"][0]


def test_public_https_and_with_the_switch_local_http_urls_are_accepted(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert webhook_url_validate("https://8.8.8.8/hook?x=1") == "https://8.8.8.8/hook?x=1"
    settings.DEBUG = True  # development: plain http, but still only to public addresses
    assert webhook_url_validate("http://8.8.8.8/hook") == "http://8.8.8.8/hook"
    with pytest.raises(ValidationError, match="loopback"):
        webhook_url_validate("http://127.0.0.1:8000/hook")
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert webhook_url_validate("http://127.0.0.1:8000") == "http://127.0.0.1:8000/"


def test_an_address_that_became_private_is_refused_at_delivery_time(endpoint, receiver, customer, settings):
    emit(customer)
    settings.WEBHOOK_ALLOW_PRIVATE = False  # as if the name now resolved to a private address

    assert webhook_deliveries_send() == 0

    assert receiver.messages() == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and "loopback address: refused" in delivery.last_error


def test_a_huge_answer_is_read_no_further_than_1_kb(endpoint, receiver, customer):
    receiver.answer = lambda r: (200, b"x" * 5_000_000, 0.0)
    emit(customer)

    assert webhook_deliveries_send() == 1

    attempt = DeliveryAttempt.objects.get()
    assert attempt.response == "x" * 1024


def test_a_slow_receiver_cannot_hold_the_sender_past_its_timeout(endpoint, receiver, customer, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    receiver.answer = lambda r: (200, b"slowly" * 100, 0.2)  # a byte every 0.2 s: 2 minutes
    emit(customer)

    start = time.monotonic()
    assert webhook_deliveries_send() == 0
    elapsed = time.monotonic() - start

    assert elapsed < 2.5, f"the sender was held {elapsed:.1f} s"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and "no answer within 1 s" in delivery.last_error


def test_redirects_are_not_followed(endpoint, receiver, customer):
    receiver.answer = lambda r: (302, b"", 0.0)
    emit(customer)

    assert webhook_deliveries_send() == 0

    assert [r.path for r in receiver.messages()] == ["/hooks/numbers"]
    assert WebhookDelivery.objects.get().last_error == "answered HTTP 302"


def test_a_sender_that_died_holding_a_lease_leaves_the_delivery_to_the_next_after_it(
        endpoint, receiver, customer):
    from events.services import _claim

    emit(customer)
    now = timezone.now()
    (claimed,), lease = _claim(now=now, limit=10)  # taken, then the sender died before posting

    assert webhook_deliveries_send(now=now) == 0  # another sender does not take it meanwhile
    assert webhook_deliveries_send(now=lease) == 1  # once the lease ran out, it goes

    assert len(receiver.messages()) == 1
