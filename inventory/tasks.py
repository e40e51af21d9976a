"""Celery tasks of the inventory (thin: each calls one service or the import runner).

Task names end in `_task`; the beat schedules name them (django-celery-beat rows,
notifications/migrations/0002, the renames of inventory/migrations/0007 and the import
schedules of inventory/migrations/0009).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError, transaction

from notifications.services import kick_send

from . import imports
from .models import ImportJob
from .services import numbers_expire_due
from .services.import_jobs import import_files_purge, import_jobs_recover

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


@shared_task(name="inventory.import_jobs_recover_task", ignore_result=True)
def import_jobs_recover_task() -> int:
    """Beat, every minute: run again, or fail, the jobs whose worker stopped (lease ran out)."""
    return import_jobs_recover()


@shared_task(name="inventory.import_files_purge_task", ignore_result=True)
def import_files_purge_task() -> int:
    """Beat: delete uploaded files and error reports past settings.IMPORT_RETENTION_DAYS."""
    return import_files_purge()


def import_job_dispatch(*, job: ImportJob, confirm: bool) -> bool:
    """Run a job now, or (a large file) queue it for the worker after the commit; True when
    queued."""
    if not imports.job_runs_in_background(job):
        imports.run_job(job.pk, confirm=confirm)
        return False
    import_job_enqueue(job_id=job.pk, confirm=confirm)
    return True


def import_job_enqueue(*, job_id: int, confirm: bool) -> None:
    """Queue a job for the worker once the transaction commits. Best-effort: if the broker
    cannot take it, the job waits as a row and beat's import_jobs_resume_task starts it."""

    def send() -> None:
        try:
            import_job_task.apply_async(args=[job_id], kwargs={"confirm": confirm}, retry=False)
        except Exception:
            log.warning("import job %s: the broker did not take it; beat will resume it", job_id,
                        exc_info=True)

    transaction.on_commit(send)
