"""Webhooks: 10,000 events delivered to a local receiver by 2 sender processes.

The receiver (http.server threads in this process) verifies every delivery's signature with
the `standardwebhooks` library and counts each webhook-id; the senders are two processes
running `webhook_deliveries_send` — the body of the Celery task — until nothing is due. The
figure is deliveries per second from the first attempt to the last one.

Alone, at any size (no 1M data set needed):
    BENCH_WEBHOOK_EVENTS=500 DATABASE_URL=postgres://…/nm_bench python -m bench.bench_webhooks
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import RANGES, report

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "10000"))
SENDERS = 2
REMARK = "bench webhooks"
TARGET_PER_SECOND = 200
SWEEP = int(os.environ.get("BENCH_WEBHOOK_SWEEP", "100000"))
# The numbers the events name: the bench's own range (RANGES["webhooks"]), outside the data
# set at every size; the emit phase from its start, the sweep-share phase 500,000 further on.
FIRST = RANGES["webhooks"]
SWEEP_FIRST = FIRST + 500_000
assert EVENTS <= 500_000 and SWEEP <= 500_000, "the webhooks range holds 1,000,000 numbers"


class _Receiver:
    """Verifies and counts; answers 200 to a good signature, 400 to a bad one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: dict[str, int] = {}
        self.bad = 0
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's hook name
                from standardwebhooks import Webhook
                from standardwebhooks.webhooks import WebhookVerificationError

                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                    ok = True
                except WebhookVerificationError:
                    ok = False
                with receiver.lock:
                    if ok:
                        msg_id = self.headers["webhook-id"]
                        receiver.ids[msg_id] = receiver.ids.get(msg_id, 0) + 1
                    else:
                        receiver.bad += 1
                self.send_response(200 if ok else 400)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.request_queue_size = 256  # a real receiver's backlog, not 5
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cleanup() -> None:
    from events.models import Event, WebhookEndpoint

    WebhookEndpoint.objects.filter(description=REMARK).delete()
    Event.objects.filter(remark=REMARK).delete()


def _emit(count: int) -> float:
    """One event per call, as a service changing one number would write it."""
    from django.db import transaction

    from events.choices import EventType
    from events.services import NumberChange, NumberSnapshot, events_emit

    start = time.perf_counter()
    for first in range(0, count, 1000):
        with transaction.atomic():
            for i in range(first, min(first + 1000, count)):
                events_emit(type=EventType.NUMBER_UPDATED, actor=None, remark=REMARK,
                            numbers_before_after=[NumberChange(
                                f"+{FIRST + i}", NumberSnapshot(state="available"),
                                NumberSnapshot(state="available"))])
    return time.perf_counter() - start


def _sweep_share(data) -> None:
    """events_emit for a 100,000-number sweep (100 events), as the expiry sweep will call it:
    the events' share of the sweep's 10 s budget."""
    from django.db import transaction

    from events.choices import EventType
    from events.models import Event
    from events.services import NumberChange, NumberSnapshot, events_emit
    from subscriptions.models import Organization

    orgs: list[int | None] = [*Organization.objects.values_list("pk", flat=True)[:10]] or [None]
    changes = [NumberChange(f"+{SWEEP_FIRST + i}",
                            NumberSnapshot(state="reserved", organization_id=orgs[i % len(orgs)],
                                           expires_at=None),
                            NumberSnapshot(state="available")) for i in range(SWEEP)]
    start = time.perf_counter()
    for first in range(0, SWEEP, 5000):  # the sweep's batches, each its own transaction
        with transaction.atomic():
            events_emit(type=EventType.NUMBER_EXPIRED, actor=None, remark=REMARK,
                        numbers_before_after=changes[first : first + 5000])
    seconds = time.perf_counter() - start
    written = Event.objects.filter(remark=REMARK, type=EventType.NUMBER_EXPIRED).count()
    # Informational: bench_expiry measures the whole sweep, these events included (<= 10 s).
    report(f"events_emit for a {SWEEP:,}-number expiry sweep", seconds, "s",
           "its share of the sweep's 10 s", None if written == SWEEP // 1000 else False,
           f"{written} events of <= 1,000 numbers")


def run(data) -> None:
    from django.conf import settings
    from django.db.models import Max, Min

    from events.models import DeliveryAttempt, WebhookDelivery
    from events.services import webhook_endpoint_create

    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on localhost
    _cleanup()
    receiver = _Receiver()
    try:
        endpoint = webhook_endpoint_create(url=receiver.url, actor=None, description=REMARK)
        receiver.secret = endpoint.secret
        emit_seconds = _emit(EVENTS)
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
        env = {**os.environ, "WEBHOOK_ALLOW_PRIVATE": "1"}
        start = time.perf_counter()
        senders = [subprocess.Popen([sys.executable, "-m", "bench.bench_webhooks", "--send"], env=env)
                   for _ in range(SENDERS)]
        codes = [p.wait(timeout=600) for p in senders]
        wall = time.perf_counter() - start
        window = DeliveryAttempt.objects.filter(delivery__endpoint=endpoint).aggregate(
            first=Min("at"), last=Max("at"))
        # From the first attempt to the last: the senders' own start-up (Python, Django) is
        # not webhook delivery.
        seconds = (window["last"] - window["first"]).total_seconds() if window["first"] else wall
        delivered = deliveries.filter(status="delivered").count()
        twice = sum(1 for n in receiver.ids.values() if n > 1)
        rate = delivered / seconds if seconds else 0.0
        ok = (codes == [0] * SENDERS and delivered == EVENTS and len(receiver.ids) == EVENTS
              and receiver.bad == 0 and rate >= TARGET_PER_SECOND)
        report(f"webhooks, {EVENTS:,} events to a local receiver, {SENDERS} senders", rate,
               "deliveries/s", f">= {TARGET_PER_SECOND}/s, all signed, none lost", ok,
               f"{seconds:.1f} s ({wall:.1f} s with start-up); {delivered:,} delivered, "
               f"{len(receiver.ids):,} verified ids, "
               f"{receiver.bad} bad signatures, {twice} received twice; "
               f"emit {EVENTS / emit_seconds:,.0f} events/s")
        _cleanup()
        _sweep_share(data)
    finally:
        receiver.close()
        _cleanup()


def _send_until_done() -> int:
    """A sender process: what the Celery task does, until nothing is pending (a retry that
    is not due yet is waited for, as the task's own retry would)."""
    from events.models import WebhookDelivery
    from events.services import webhook_deliveries_send, webhook_seconds_until_next

    total = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        total += webhook_deliveries_send(limit=1000)
        wait = webhook_seconds_until_next()
        if wait is None or not WebhookDelivery.objects.filter(
                status="pending", endpoint__description=REMARK).exists():
            return total
        threading.Event().wait(min(max(wait, 0.1), 5))  # until the soonest retry is due
    return total


if __name__ == "__main__":
    from bench import common

    if "--send" in sys.argv:  # the parent's environment already names the database
        import django

        django.setup()
        _send_until_done()
    else:
        common.setup_django()
        run(None)
        sys.exit(1 if any(ok is False for _, ok in common.RESULTS) else 0)
