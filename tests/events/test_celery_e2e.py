"""End to end: a real `celery -A numbermgmt worker` on real Redis delivers webhooks to a real
receiver on localhost, from the same PostgreSQL test database; with the broker down, beat
drains the outbox once a worker runs. The worker helpers are the notifications tests' own
(imported as fixtures in conftest.py)."""

from __future__ import annotations

import importlib
import time

import pytest
from django.db import transaction

from events.models import WebhookDelivery
from tests.notifications.conftest import REDIS_URL_FOR_TESTS, celery_broker, wait_for

from .test_delivery import emit, verify

# The migrated rows a transactional test flushes are restored by the root conftest.
pytestmark = [pytest.mark.postgres, pytest.mark.redis,
              pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(monkeypatch):
    """What the worker process reads from its environment: local receivers, a short schedule."""
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "1,1,1")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "3")


def test_a_worker_delivers_the_webhook_retrying_after_a_503(
        worker_env, start_worker, endpoint, receiver, customer):
    answers = iter([(503, b"busy", 0.0)])
    receiver.answer = lambda r: next(answers, (200, b"thanks", 0.0))
    start_worker(beat=False)  # no beat: the kick after the commit and the task's retry do it

    with celery_broker(REDIS_URL_FOR_TESTS), transaction.atomic():
        (event,) = emit(customer)

    first, second = wait_for(lambda: receiver.messages()[:2] if len(receiver.messages()) >= 2 else None,
                             timeout=60, what="the delivery and its retry")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"evt_{event.pk}"
    assert verify(endpoint.secret, second)["id"] == event.pk
    wait_for(lambda: WebhookDelivery.objects.filter(status="delivered", attempts=2).exists(),
             timeout=15, what="the delivery marked delivered")


def test_with_redis_down_the_event_is_kept_and_beat_delivers_it_later(
        worker_env, start_worker, endpoint, receiver, customer, closed_port_url):
    from django.apps import apps
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    with celery_broker(closed_port_url):  # Redis is down for the web process
        start = time.perf_counter()
        with transaction.atomic():
            (event,) = emit(customer)
        seconds = time.perf_counter() - start
    assert seconds < 2.5, f"the change took {seconds:.2f} s with the broker down"
    assert WebhookDelivery.objects.get().status == "pending"

    migration = importlib.import_module("events.migrations.0002_beat_schedule")
    migration.create_schedule(apps, None)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.filter(task=migration.TASK).update(interval=every_second, last_run_at=None)
    PeriodicTask.objects.exclude(task=migration.TASK).update(enabled=False)

    start_worker(beat=True)  # the broker is back, with a worker and beat
    (got,) = wait_for(receiver.messages, timeout=90, what="beat to send the missed delivery")
    assert verify(endpoint.secret, got)["id"] == event.pk
    wait_for(lambda: WebhookDelivery.objects.filter(status="delivered").exists(), timeout=15,
             what="the delivery marked delivered")
