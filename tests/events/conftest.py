"""Fixtures for events and webhooks: a real HTTP receiver on localhost (http.server in a
thread) that verifies nothing itself but records what it got, and answers as told."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# The notifications tests' helpers, shared: the real-worker fixture and what it needs.
from tests.notifications.conftest import (  # noqa: F401 - fixtures are used by name
    closed_port_url,
    free_port,
    redis_db,
    smtp_server,
    wait_for,
)
from tests.notifications.test_celery_e2e import start_worker  # noqa: F401 - a fixture


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with `answer(request) -> (status, body bytes, drip seconds)`."""

    port: int
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answer: Callable[[Received], tuple[int, bytes, float]] = lambda r: (200, b"ok", 0.0)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/numbers"

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("content-length") or 0)
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                   self.rfile.read(length))
                with receiver.lock:
                    receiver.received.append(request)
                status, body, drip = receiver.answer(request)
                if drip:  # a slow receiver: the whole answer, a byte per `drip` s, until stopped
                    raw = (f"HTTP/1.1 {status} Slow\r\ncontent-length: {len(body)}\r\n\r\n"
                           .encode() + body)
                    for byte in raw:
                        if receiver.stopped.wait(drip):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    return
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.stopped.clear()
        ThreadingHTTPServer.request_queue_size = 64  # parallel senders: no SYN drops
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver():
    r = Receiver(port=free_port())
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def webhook_settings(settings):
    """Local receivers allowed, a short retry schedule and timeout (time is driven by `now`)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_SCHEDULE = [10, 60, 300]
    settings.WEBHOOK_TIMEOUT_SECONDS = 2.0
    return settings


@pytest.fixture
def endpoint(webhook_settings, receiver, admin_user):
    from events.services import webhook_endpoint_create

    return webhook_endpoint_create(url=receiver.url, actor=admin_user, description="billing")
