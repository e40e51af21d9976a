"""Fixtures for notices: a real SMTP server (aiosmtpd), the Celery app pointed at a chosen
broker, and helpers to poll with a deadline (never sleep to synchronise)."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest

REDIS_URL_FOR_TESTS = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        threading.Event().wait(interval)  # a poll interval, not a synchronisation


@dataclass
class SmtpHandler:
    """Accepts mail, except that it answers the next `fail_next` DATA commands with `fail_code`."""

    fail_next: int = 0
    fail_code: int = 451
    received: list = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.refused += 1
                text = "4.3.0 Try again later" if self.fail_code < 500 else "5.7.1 Rejected"
                return f"{self.fail_code} {text}"
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.received.append({"to": list(envelope.rcpt_tos), "message": message})
        return "250 Message accepted for delivery"

    def messages(self) -> list:
        with self.lock:
            return list(self.received)


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free localhost port: (handler, port)."""
    from aiosmtpd.controller import Controller

    handler = SmtpHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Django's SMTP backend pointed at the test server."""
    handler, port = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_TIMEOUT = 5
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    return handler


# This run's own queue: runs side by side on one Redis never take each other's messages.
TEST_QUEUE = f"numbermgmt-test-{uuid.uuid4().hex[:12]}"


@contextmanager
def celery_broker(url: str):
    """Point the project's Celery app at `url` with the production Redis options."""
    from django.conf import settings
    from kombu import pools

    from notifications import outbox
    from numbermgmt.celery import app

    def reset_pools():
        pools.reset()  # kombu keeps pools per connection in a registry: close and forget them
        app._pool = None
        app.amqp._producer_pool = None

    saved = (app.conf.broker_url, app.conf.broker_transport_options,
             app.conf.broker_connection_timeout, app.conf.task_default_queue)
    reset_pools()
    app.conf.task_default_queue = TEST_QUEUE
    app.conf.broker_url = url
    app.conf.broker_transport_options = dict(settings.REDIS_TRANSPORT_OPTIONS)
    app.conf.broker_connection_timeout = 1
    outbox.reset()
    try:
        yield app
    finally:
        reset_pools()
        (app.conf.broker_url, app.conf.broker_transport_options, app.conf.broker_connection_timeout,
         app.conf.task_default_queue) = saved
        outbox.reset()


@pytest.fixture
def closed_port_url():
    """A Redis URL where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def black_hole_url():
    """A Redis URL whose server accepts connections and never answers (a hung Redis)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    finally:
        sock.close()


@pytest.fixture
def redis_db():
    """The dedicated Redis database for tests; this run's queue is emptied before and after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL_FOR_TESTS, socket_timeout=2)

    def clear():
        keys = [TEST_QUEUE, *client.scan_iter(match=f"*{TEST_QUEUE}*")]
        client.delete(*keys)

    clear()
    try:
        yield client
    finally:
        clear()
        client.close()
