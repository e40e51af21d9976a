"""The ops overview on the admin index: what needs a look today, each figure a link to the
list that shows exactly those rows.

Fast at 10 million numbers: every figure over the numbers is PostgreSQL's estimate
(`count_fast`: the planner's row estimate through the state indexes, exact when small), never
a full COUNT(*). Notices and import jobs are small tables, counted through their indexes;
worker and beat come from their heartbeats (ops.selectors.heartbeat_checks).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import apps
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from notifications.choices import NoticeStatus
from notifications.models import Notice

from .admin_views import count_fast
from .choices import ImportJobStatus, NumberState
from .models import ImportJob, PhoneNumber

ENDING_DAYS = 7
IDLE_DAYS = 90  # B3: "track if any number remains Available"


def _figure(label: str, url: str, count: int, estimated: bool = False, *, tone: str = "",
            key: str = "") -> dict[str, Any]:
    return {"label": label, "url": url, "count": count, "display": f"{'~' if estimated else ''}{count:,}",
            "estimated": estimated, "tone": tone if count else "", "key": key}


def _link(name: str, **params: Any) -> str:
    url = reverse(name)
    return f"{url}?{urlencode(params)}" if params else url


def ops_overview(*, now: dt.datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """The index's figures: numbers per state, what ends soon, what sits idle, notices, imports."""
    now = now or timezone.now()
    numbers = "admin:inventory_phonenumber_changelist"
    states = []
    for state in NumberState:
        count, estimated = count_fast(PhoneNumber.objects.filter(state=state))
        states.append(_figure(state.label, _link(numbers, state=state.value), count, estimated,
                              key=f"state-{state.value}"))

    soon = (now + dt.timedelta(days=ENDING_DAYS)).isoformat(timespec="seconds")
    idle = (now - dt.timedelta(days=IDLE_DAYS)).isoformat(timespec="seconds")
    attention = []
    for state, label in ((NumberState.RESERVED, f"Reservations ending in {ENDING_DAYS} days"),
                         (NumberState.LOCKED, f"Locks ending in {ENDING_DAYS} days")):
        rows = PhoneNumber.objects.filter(state=state, expires_at__lt=soon)
        count, estimated = count_fast(rows)
        attention.append(_figure(label, _link(numbers, state=state.value, expires_at__lt=soon), count,
                                 estimated, tone="attention", key=f"ending-{state.value}"))
    rows = PhoneNumber.objects.filter(state=NumberState.AVAILABLE, state_changed_at__lt=idle)
    count, estimated = count_fast(rows, indexed=False)
    attention.append(_figure(f"Available for over {IDLE_DAYS} days",
                             _link(numbers, state=NumberState.AVAILABLE.value, state_changed_at__lt=idle),
                             count, estimated, tone="attention", key="idle"))

    notices = "admin:notifications_notice_changelist"
    work = [
        _figure("Notices pending", _link(notices, status__exact=NoticeStatus.PENDING.value),
                Notice.objects.filter(status=NoticeStatus.PENDING).count(), key="notices-pending"),
        _figure("Notices failed", _link(notices, status__exact=NoticeStatus.FAILED.value),
                Notice.objects.filter(status=NoticeStatus.FAILED).count(), tone="bad",
                key="notices-failed"),
    ]
    jobs = "admin:inventory_importjob_changelist"
    for status, label in ((ImportJobStatus.RUNNING, "Imports running"),
                          (ImportJobStatus.PENDING, "Imports waiting"),
                          (ImportJobStatus.FAILED, "Imports failed")):
        work.append(_figure(label, _link(jobs, status__exact=status.value),
                            ImportJob.objects.filter(status=status).count(),
                            tone="bad" if status == ImportJobStatus.FAILED else "",
                            key=f"imports-{status.value}"))
    return {"states": states, "attention": attention, "work": work, "processes": _processes(now)}


def _processes(now: dt.datetime) -> list[dict[str, Any]]:
    """Worker and beat alive? Their heartbeats (the ops app), each linking to the heartbeat list."""
    if not apps.is_installed("ops"):
        return []
    from ops.selectors import heartbeat_checks

    url = reverse("admin:ops_heartbeat_changelist")
    return [{"label": f"{check.name.capitalize()}: {check.status}", "url": url,
             "display": "alive" if check.ok else "down", "tone": "" if check.ok else "bad",
             "estimated": False, "key": f"process-{check.name}"}
            for check in heartbeat_checks(now=now)]
