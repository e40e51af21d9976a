"""Celery tasks of the inventory (thin: each calls one service or the import runner).

Task names end in `_task`; the beat schedules name them (django-celery-beat rows,
notifications/migrations/0002 and the renames of inventory/migrations/0007).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError, transaction

from notifications.services import kick_send

from . import imports
from .models import ImportJob
from .services import numbers_expire_due

log = logging.getLogger(__name__)


@shared_task(name="inventory.numbers_expire_due_task", ignore_result=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def numbers_expire_due_task() -> int:
    """Release ended reservations, locks and cooling periods (committed batches, skip_locked).

    Ended locks leave lock-expired notices in the outbox; a send is kicked for them.
    """
    expired = numbers_expire_due()
    if expired:
        kick_send()
    return expired


@shared_task(name="inventory.import_job_task", ignore_result=True, acks_late=True)
def import_job_task(job_id: int, confirm: bool = False) -> str:
    """Preview (confirm=False) or import (confirm=True) one ImportJob; a second run is a no-op."""
    return imports.run_job(job_id, confirm=confirm)


@shared_task(name="inventory.import_jobs_resume_task", ignore_result=True)
def import_jobs_resume_task() -> int:
    """Beat: run the jobs whose enqueue was missed (the broker was down when they were queued)."""
    return imports.resume_jobs()


def import_job_dispatch(*, job: ImportJob, confirm: bool) -> bool:
    """Run a job now, or (a large file) queue it for the worker after the commit; True when
    queued. Best-effort: if the broker cannot take it, the job waits as a row and beat's
    import_jobs_resume_task starts it."""
    if not imports.job_runs_in_background(job):
        imports.run_job(job.pk, confirm=confirm)
        return False

    def send() -> None:
        try:
            import_job_task.apply_async(args=[job.pk], kwargs={"confirm": confirm}, retry=False)
        except Exception:
            log.warning("import job %s: the broker did not take it; beat will resume it", job.pk,
                        exc_info=True)

    transaction.on_commit(send)
    return True
