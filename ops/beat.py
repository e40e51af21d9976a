"""Beat's scheduler with a heartbeat: the database scheduler that also says it is alive."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler + a `Heartbeat(name="beat")` every
    HEARTBEAT_INTERVAL_SECONDS from beat's own loop (a task would prove the worker, not beat)."""

    _last_heartbeat: float = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = super().tick(*args, **kwargs)
        every: int = settings.HEARTBEAT_INTERVAL_SECONDS
        if time.monotonic() - self._last_heartbeat >= every:
            self._beat()
        return min(interval, every)

    def _beat(self) -> None:
        from .services import heartbeat_record

        try:
            close_old_connections()
            heartbeat_record(name="beat")
            self._last_heartbeat = time.monotonic()
        except Exception:  # a database blip must not stop beat; /healthz shows the age
            logger.exception("beat heartbeat not written")
