"""Celery tasks for notices (thin: they call notifications.services)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services

# A send retry sooner than this is scheduled on the broker; later ones are left to beat,
# which runs the send task every minute (so nothing piles up as delayed messages).
RETRY_HORIZON_SECONDS = 60


@shared_task(name="notifications.notices_queue_due_task", ignore_result=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def notices_queue_due_task() -> int:
    """Write the notices of reservations and locks that end within the lead time."""
    return services.notices_queue_due()


@shared_task(bind=True, name=services.SEND_TASK, ignore_result=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def notices_send_pending_task(self) -> int:  # noqa: ANN001 - Celery's bound task
    """Send what is due; when a failed delivery's retry is near, come back for it then."""
    sent = services.notices_send_pending()
    wait = services.seconds_until_next_retry()
    if wait is not None and wait < RETRY_HORIZON_SECONDS and self.request.retries < self.max_retries:
        raise self.retry(countdown=max(wait, 0.5), exc=None)
    return sent
