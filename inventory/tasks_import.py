"""Background import jobs (thin: they call inventory.imports, which calls the services)."""

from __future__ import annotations

from celery import shared_task

__all__ = ["import_job", "import_jobs_resume"]


@shared_task(name="inventory.import_job", ignore_result=True, acks_late=True)
def import_job(job_id: int, confirm: bool = False) -> str:
    """Preview (confirm=False) or import (confirm=True) one ImportJob; a second run is a no-op."""
    from inventory.imports import run_job

    return run_job(job_id, confirm=confirm)


@shared_task(name="inventory.import_jobs_resume", ignore_result=True)
def import_jobs_resume() -> int:
    """Beat: run the jobs whose enqueue was missed (the broker was down when they were queued)."""
    from inventory.imports import resume_jobs

    return resume_jobs()
