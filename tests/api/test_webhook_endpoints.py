"""/api/v1/webhook-endpoints/: ops keys register, change, deactivate, rotate and replay
endpoints through the events services. The secret is shown once (on create and on rotation)
and it is the one that signs what a real receiver on localhost gets."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from events.models import WebhookDelivery, WebhookEndpoint
from events.services import webhook_deliveries_send
from inventory.services import number_reserve
from tests.api.test_events import change

pytestmark = pytest.mark.django_db
A, B = "+6560000000", "+6560000001"


@dataclasses.dataclass
class Receiver:
    url: str
    got: list[tuple[dict[str, str], bytes]] = dataclasses.field(default_factory=list)

    def verify(self, secret: str, index: int = 0) -> dict:
        headers, body = self.got[index]
        return Webhook(secret).verify(body, headers)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on localhost that keeps what it is sent and answers 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_port}/hooks/numbers")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):  # keep the test output clean
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook_settings(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    settings.WEBHOOK_TIMEOUT_SECONDS = 2.0
    return settings


def register(api, url: str, **extra):
    return api.post("/webhook-endpoints/", {"url": url, "description": "billing", **extra})


@pytest.fixture
def created(ops, receiver, webhook_settings):
    response = register(ops, receiver.url, event_types=["number.reserved"])
    assert response.status_code == 201, response.content
    return response.json()


def reserve(e164: str, customer, remark: str = "order 4711"):
    return change("number.reserved", number_reserve, [e164], organization=customer, actor=None,
                  remark=remark)


def test_create_shows_the_secret_once_and_it_signs_the_deliveries(ops, created, receiver, make_numbers,
                                                                   customer):
    assert created["secret"].startswith("whsec_")
    assert created["url"] == receiver.url and created["event_types"] == ["number.reserved"]
    assert created["active"] is True
    endpoint_id = created["id"]

    for shown in (ops.get(f"/webhook-endpoints/{endpoint_id}/"), ops.get("/webhook-endpoints/")):
        assert shown.status_code == 200
        assert "secret" not in shown.content.decode().replace("previous_secret_valid_until", "")
        assert "whsec_" not in shown.content.decode()
    assert [e["id"] for e in ops.get("/webhook-endpoints/").json()["results"]] == [endpoint_id]

    make_numbers(1)
    (event,) = reserve(A, customer)
    assert webhook_deliveries_send() == 1
    assert len(receiver.got) == 1
    body = receiver.verify(created["secret"])
    assert body["id"] == event.pk and body["type"] == "number.reserved"


def test_url_and_event_type_refusals_name_the_field_and_create_nothing(ops, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.DEBUG = False
    for url, reason in [("https://127.0.0.1/hooks", "loopback"), ("https://10.1.2.3/hooks", "private"),
                        ("http://203.0.113.9/hooks", "https"), ("ftp://example.com/x", "https"),
                        ("https://user:pw@203.0.113.9/", "password")]:
        refused = register(ops, url)
        assert refused.status_code == 400, url
        assert refused["Content-Type"] == "application/problem+json"
        assert reason in " ".join(refused.json()["errors"]["url"]), (url, refused.json())
    refused = register(ops, "https://203.0.113.9/hooks", event_types=["number.teleported"])
    assert refused.status_code == 400
    assert any(field.startswith("event_types") for field in refused.json()["errors"])
    assert "url" in register(ops, "").json()["errors"]
    assert not WebhookEndpoint.objects.exists()


def test_patch_changes_and_deactivates_without_deleting(ops, created, make_numbers, customer, settings):
    endpoint_id = created["id"]
    make_numbers(1)
    reserve(A, customer)
    assert WebhookDelivery.objects.get().status == "pending"

    changed = ops.patch(f"/webhook-endpoints/{endpoint_id}/", {
        "description": "billing v2", "event_types": ["number.reserved", "number.released"]})
    assert changed.status_code == 200
    assert changed.json()["description"] == "billing v2"
    assert changed.json()["event_types"] == ["number.released", "number.reserved"]

    off = ops.patch(f"/webhook-endpoints/{endpoint_id}/", {"active": False})
    assert off.status_code == 200
    assert off.json()["active"] is False and "api:provisioning" in off.json()["disabled_reason"]
    assert WebhookDelivery.objects.get().status == "disabled"  # nothing more is sent to it
    assert WebhookEndpoint.objects.filter(pk=endpoint_id).exists()

    for body, field in [({"secret": "whsec_mine"}, "secret"), ({"event_types": ["nope"]}, "event_types[0]"),
                        ({}, "")]:
        refused = ops.patch(f"/webhook-endpoints/{endpoint_id}/", body)
        assert refused.status_code == 400 and field in refused.json()["errors"], (body, refused.json())
    settings.WEBHOOK_ALLOW_PRIVATE = False
    refused = ops.patch(f"/webhook-endpoints/{endpoint_id}/", {"url": "https://127.0.0.1/x"})
    assert refused.status_code == 400 and "loopback" in refused.json()["errors"]["url"][0]
    assert ops.client.delete(f"/api/v1/webhook-endpoints/{endpoint_id}/").status_code == 405
    assert ops.get("/webhook-endpoints/999999/").status_code == 404


def test_rotation_shows_the_new_secret_once_and_the_old_one_signs_during_the_window(
        ops, created, receiver, make_numbers, customer, settings):
    endpoint_id = created["id"]
    before = timezone.now()
    rotated = ops.post(f"/webhook-endpoints/{endpoint_id}/rotate-secret/")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != created["secret"]
    until = dt.datetime.fromisoformat(rotated.json()["previous_secret_valid_until"])
    window = dt.timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    assert before + window <= until <= timezone.now() + window
    shown = ops.get(f"/webhook-endpoints/{endpoint_id}/").json()
    assert shown["previous_secret_valid_until"] == rotated.json()["previous_secret_valid_until"]
    assert new not in ops.get(f"/webhook-endpoints/{endpoint_id}/").content.decode()

    make_numbers(1)
    reserve(A, customer)
    webhook_deliveries_send()
    assert len(receiver.got) == 1
    for secret in (created["secret"], new):  # the receiver may switch at its own pace
        assert receiver.verify(secret)["type"] == "number.reserved"


def test_replay_since_and_of_chosen_deliveries(ops, created, receiver, make_numbers, customer):
    endpoint_id = created["id"]
    make_numbers(2)
    t0 = timezone.now()
    reserve(A, customer)
    reserve(B, customer)
    assert webhook_deliveries_send() == 2

    since = ops.post(f"/webhook-endpoints/{endpoint_id}/replay/", {"since": t0.isoformat()})
    assert since.status_code == 200 and since.json() == {"replayed": 2}
    assert webhook_deliveries_send() == 2
    first = WebhookDelivery.objects.order_by("pk").first()
    assert first is not None and first.replayed_by is not None
    assert first.replayed_by.username == "api:provisioning"

    chosen = ops.post(f"/webhook-endpoints/{endpoint_id}/replay/", {"deliveries": [first.pk]})
    assert chosen.status_code == 200 and chosen.json() == {"replayed": 1}
    assert webhook_deliveries_send() == 1
    ids = [headers["webhook-id"] for headers, _ in receiver.got]
    # The same webhook-id every time, so the receiver can deduplicate.
    assert sorted(ids.count(i) for i in set(ids)) == [2, 3] and ids.count(f"evt_{first.event_id}") == 3

    for body, field in [({"deliveries": [first.pk + 1000]}, "deliveries"), ({}, ""),
                        ({"since": t0.isoformat(), "deliveries": [first.pk]}, ""),
                        ({"since": "yesterday"}, "since")]:
        refused = ops.post(f"/webhook-endpoints/{endpoint_id}/replay/", body)
        assert refused.status_code == 400 and field in refused.json()["errors"], (body, refused.json())
    ops.patch(f"/webhook-endpoints/{endpoint_id}/", {"active": False})
    inactive = ops.post(f"/webhook-endpoints/{endpoint_id}/replay/", {"since": t0.isoformat()})
    assert inactive.status_code == 400 and "inactive" in inactive.json()["errors"]["endpoint"][0]


def test_partner_keys_and_keys_without_the_permissions_are_refused(
        ops, created, partner_api, make_key):
    endpoint_id = created["id"]
    calls = [("get", "/webhook-endpoints/", None), ("get", f"/webhook-endpoints/{endpoint_id}/", None),
             ("post", "/webhook-endpoints/", {"url": "http://127.0.0.1:9/x"}),
             ("patch", f"/webhook-endpoints/{endpoint_id}/", {"active": False}),
             ("post", f"/webhook-endpoints/{endpoint_id}/rotate-secret/", None),
             ("post", f"/webhook-endpoints/{endpoint_id}/replay/", {"since": "2026-01-01T00:00:00Z"})]
    for method, path, body in calls:
        refused = getattr(partner_api, method)(path, *([body] if body is not None else []))
        assert refused.status_code == 403, (method, path)
        assert refused["Content-Type"] == "application/problem+json"

    reader = make_key("hooks-reader", permissions=["events.view_webhookendpoint"])[0]
    needed = [None, None, "events.add_webhookendpoint", "events.change_webhookendpoint",
              "events.rotate_webhookendpoint_secret", "events.replay_webhookdelivery"]
    for (method, path, body), permission in zip(calls, needed, strict=True):
        answer = getattr(reader, method)(path, *([body] if body is not None else []))
        if permission is None:
            assert answer.status_code == 200, path
        else:
            assert answer.status_code == 403 and permission in answer.json()["detail"], (path, answer.json())
    assert WebhookEndpoint.objects.get().active is True
    assert WebhookEndpoint.objects.get().secret == created["secret"]


def test_idempotency_key_replays_the_creation_instead_of_making_a_second_endpoint(
        ops, receiver, webhook_settings):
    headers = {"Idempotency-Key": "register-billing-1"}
    first = ops.post("/webhook-endpoints/", {"url": receiver.url}, headers=headers)
    again = ops.post("/webhook-endpoints/", {"url": receiver.url}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert WebhookEndpoint.objects.count() == 1
    other = ops.post("/webhook-endpoints/", {"url": receiver.url + "/other"}, headers=headers)
    assert other.status_code == 422
    rotate = {"Idempotency-Key": "rotate-1"}
    path = f"/webhook-endpoints/{first.json()['id']}/rotate-secret/"
    assert ops.post(path, headers=rotate).json() == ops.post(path, headers=rotate).json()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.previous_secret == first.json()["secret"]  # rotated once, not twice
