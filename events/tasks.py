"""Celery tasks for webhooks (thin: they call events.services).

Deliveries are rows (the outbox): a task message only makes them go sooner. Beat runs the
send task every minute (events/migrations/0002), so a broker that was down loses nothing.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services

# A retry due sooner than this is scheduled on the broker; later ones are left to beat.
RETRY_HORIZON_SECONDS = 60


@shared_task(bind=True, name="events.webhook_deliveries_send_task", ignore_result=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def webhook_deliveries_send_task(self) -> int:
    """Send what is due; when a retry is near, come back for it then."""
    delivered = services.webhook_deliveries_send()
    wait = services.webhook_seconds_until_next()
    if wait is not None and wait < RETRY_HORIZON_SECONDS and self.request.retries < self.max_retries:
        raise self.retry(countdown=max(wait, 0.5), exc=None)
    return delivered
