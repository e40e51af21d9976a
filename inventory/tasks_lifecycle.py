"""Life-cycle sweeps run by beat (thin: they call inventory.services)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from inventory import services

__all__ = ["numbers_expire_due"]


@shared_task(name="inventory.numbers_expire_due", ignore_result=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def numbers_expire_due() -> int:
    """Release ended reservations, locks and cooling periods (committed batches, skip_locked).

    Ended locks leave lock-expired notices in the outbox; a send is kicked for them.
    """
    from notifications.services import kick_send

    expired = services.numbers_expire_due()
    if expired:
        kick_send()
    return expired
