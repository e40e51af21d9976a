"""Writes of the operations app: heartbeats and the embedded broker's housekeeping."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .models import Heartbeat

logger = logging.getLogger(__name__)


def heartbeat_record(*, name: str, detail: str = "", now: dt.datetime | None = None) -> Heartbeat:
    """Say that the process `name` is alive now (one row per process, overwritten)."""
    heartbeat, _ = Heartbeat.objects.update_or_create(
        name=name, defaults={"at": now or timezone.now(), "detail": detail[:200]}
    )
    return heartbeat


def broker_prune_delivered(*, older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Delete delivered messages from the embedded SQLite broker.

    kombu's SQLAlchemy transport keeps every delivered message (visible = 0) forever;
    without this the file grows by every beat tick for as long as `make run` runs.
    Does nothing on any other broker.
    """
    url: str = settings.CELERY_BROKER_URL
    prefix = "sqla+sqlite:///"
    if not url.startswith(prefix):
        return 0
    path = Path(url[len(prefix):])
    if not path.exists():
        return 0
    # kombu stores naive local timestamps (datetime.now) in the "timestamp" column.
    cutoff = (dt.datetime.now() - older_than).isoformat(sep=" ")  # noqa: DTZ005 - kombu's convention
    try:
        with sqlite3.connect(path, timeout=10) as db:
            deleted = db.execute(
                "DELETE FROM kombu_message WHERE visible = 0 AND timestamp < ?", (cutoff,)
            ).rowcount
    except sqlite3.Error as exc:  # a missing table (no message yet) or a busy file: next time
        logger.info("broker prune skipped: %s", exc)
        return 0
    return deleted
