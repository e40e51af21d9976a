"""Reads of the operations app: the health of the database, the broker and the processes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import Heartbeat

PROCESSES = ("worker", "beat")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    status: str
    age_seconds: int | None = None

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {"status": self.status}
        if self.age_seconds is not None:
            data["age_seconds"] = self.age_seconds
        return data


def _database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        return Check("database", False, f"error: {exc.__class__.__name__}")
    return Check("database", True, "ok")


def _broker_check() -> Check:
    from numbermgmt.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
            conn.default_channel  # noqa: B018 - opens the channel (the SQLite file, a Redis socket)
    except Exception as exc:  # noqa: BLE001
        return Check("broker", False, f"error: {exc.__class__.__name__}")
    return Check("broker", True, "ok")


def heartbeat_checks(*, now: dt.datetime | None = None, database_ok: bool = True) -> list[Check]:
    """One check per background process: "ok", "stale" or "missing", with the age."""
    if not database_ok:
        return [Check(name, False, "unknown (database down)") for name in PROCESSES]
    now = now or timezone.now()
    stale_after: int = settings.HEARTBEAT_STALE_SECONDS
    seen = {h.name: h.at for h in Heartbeat.objects.filter(name__in=PROCESSES)}
    checks = []
    for name in PROCESSES:
        at = seen.get(name)
        if at is None:
            checks.append(Check(name, False, "missing (never seen)"))
            continue
        age = max(int((now - at).total_seconds()), 0)
        ok = age <= stale_after
        checks.append(Check(name, ok, "ok" if ok else f"stale (over {stale_after} s)", age))
    return checks


def health_checks(*, now: dt.datetime | None = None) -> list[Check]:
    """Database, broker and (when HEALTHZ_CHECK_HEARTBEATS) worker and beat."""
    database = _database_check()
    checks = [database, _broker_check()]
    if settings.HEALTHZ_CHECK_HEARTBEATS:
        checks.extend(heartbeat_checks(now=now, database_ok=database.ok))
    return checks
