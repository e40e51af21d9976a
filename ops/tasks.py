"""Celery tasks of the operations app (thin: they call ops.services)."""

from __future__ import annotations

import socket

from celery import shared_task

from . import services


@shared_task(name="ops.heartbeat_worker_task", ignore_result=True)
def heartbeat_worker_task() -> None:
    """Beat sends this every minute; the worker that runs it proves the whole chain alive."""
    services.heartbeat_record(name="worker", detail=socket.gethostname())
    services.broker_prune_delivered()
