"""Two senders at once on PostgreSQL: every delivery goes out exactly once between them
(skip_locked + a committed lease), none is lost."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from events.models import DeliveryAttempt, WebhookDelivery
from events.services import webhook_deliveries_send

from .test_delivery import emit, verify

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_senders_in_parallel_never_deliver_the_same_attempt_twice(endpoint, receiver, customer):
    for i in range(300):
        emit(customer, start=6560000000 + i * 10)
    barrier = threading.Barrier(2)
    delivered: list[int] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            barrier.wait(timeout=10)
            delivered.append(webhook_deliveries_send())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert not errors, errors
    assert sum(delivered) == 300 and all(delivered), delivered  # both took a share
    ids = Counter(r.headers["webhook-id"] for r in receiver.messages())
    assert len(ids) == 300 and set(ids.values()) == {1}
    assert all(verify(endpoint.secret, r) for r in receiver.messages())
    assert WebhookDelivery.objects.filter(status="delivered", attempts=1).count() == 300
    assert DeliveryAttempt.objects.count() == 300
    assert connection.vendor == "postgresql"
