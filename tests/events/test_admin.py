"""The webhook admin as ops use it: create an endpoint (the secret shown once), replay,
read the attempts, browse events without a full count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from events.models import WebhookDelivery, WebhookEndpoint
from events.services import webhook_deliveries_send

from .test_delivery import emit, verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_creating_an_endpoint_shows_its_secret_once(ops_client, webhook_settings, receiver, customer):
    response = ops_client.post(reverse("admin:events_webhookendpoint_add"), {
        "url": receiver.url, "description": "Billing", "event_types": ["number.reserved"],
        "active": "on",
    })

    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 200
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in response.content.decode()
    assert endpoint.event_types == ["number.reserved"]
    change = ops_client.get(reverse("admin:events_webhookendpoint_change", args=[endpoint.pk]))
    assert change.status_code == 200 and endpoint.secret not in change.content.decode()
    emit(customer)
    webhook_deliveries_send()
    assert verify(endpoint.secret, receiver.messages()[0])


def test_a_refused_url_is_a_form_error_not_a_500(ops_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = ops_client.post(reverse("admin:events_webhookendpoint_add"),
                               {"url": "https://127.0.0.1/hook", "active": "on"})

    assert response.status_code == 200
    assert "loopback address: refused" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_rotating_shows_the_new_secret_and_both_verify(ops_client, endpoint, receiver, customer):
    old = endpoint.secret
    response = ops_client.post(reverse("admin:events_webhookendpoint_changelist"), {
        "action": "rotate_secret", ACTION_CHECKBOX_NAME: [endpoint.pk]})

    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.secret in response.content.decode()
    emit(customer)
    webhook_deliveries_send()
    got = receiver.messages()[0]
    assert verify(old, got) and verify(endpoint.secret, got)


def test_replay_from_the_delivery_list_and_since_a_time_from_the_endpoint(
        ops_client, endpoint, receiver, customer):
    emit(customer)
    webhook_deliveries_send()
    delivery = WebhookDelivery.objects.get()
    changelist = reverse("admin:events_webhookdelivery_changelist")

    ops_client.post(changelist, {"action": "replay", ACTION_CHECKBOX_NAME: [delivery.pk]})
    assert webhook_deliveries_send() == 1

    page = ops_client.get(reverse("admin:events_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and page.content.decode().count("<td class=\"field-status_code\">") == 2

    since = timezone.localtime() - dt.timedelta(hours=1)
    url = reverse("admin:events_webhookendpoint_changelist")
    form = ops_client.post(url, {"action": "replay_since", ACTION_CHECKBOX_NAME: [endpoint.pk]})
    assert form.status_code == 200 and b"Replay" in form.content
    done = ops_client.post(url, {"action": "replay_since", ACTION_CHECKBOX_NAME: [endpoint.pk],
                                 "apply": "1", "since_0": since.strftime("%Y-%m-%d"),
                                 "since_1": since.strftime("%H:%M:%S")}, follow=True)
    assert "1 deliveries to" in done.content.decode()
    assert webhook_deliveries_send() == 1
    assert len(receiver.messages()) == 3


def test_the_event_list_and_page_are_read_only(ops_client, customer):
    (event,) = emit(customer, count=3, remark="for Beta")

    listing = ops_client.get(reverse("admin:events_event_changelist"))
    page = ops_client.get(reverse("admin:events_event_change", args=[event.pk]))

    assert listing.status_code == 200 and "number.reserved" in listing.content.decode()
    assert page.status_code == 200 and "+6560000002" in page.content.decode()
    assert ops_client.get(reverse("admin:events_event_add")).status_code == 403
