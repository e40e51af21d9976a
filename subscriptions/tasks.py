"""Hourly subscription sweep (thin: it calls subscriptions.services)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import services


@shared_task(name="subscriptions.subscriptions_expire_due_task", ignore_result=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def subscriptions_expire_due_task() -> int:
    """Active subscriptions past their period end expire; their numbers become reserved."""
    return services.subscriptions_expire_due()
