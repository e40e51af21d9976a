"""Every write of an ImportJob: start, claim, progress, the stored preview, confirm, done, fail.

The admin pages and the Celery task only call these. Progress is written through the
second database alias `progress` (autocommit, settings.DATABASES): the import itself runs
in one long transaction, whose own writes stay invisible to the admin's poller until it
ends.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, Protocol

from django.core.files import File
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from ..choices import ImportJobStatus
from ..files import ImportFileError, check_file, estimate_rows
from ..models import ImportJob
from .results import ServiceError

J = ImportJobStatus
PROGRESS_DB = "progress"
log = logging.getLogger(__name__)


class ImportCounts(Protocol):
    """What a finished preview or import reports (inventory.imports.ImportSummary)."""

    rows: int
    created: int
    changed: int
    unchanged: int
    refused: int
    error_count: int
    file_error: str
    imported: bool

    def message(self) -> str: ...


def import_job_start(*, upload: Any, country: str, all_or_nothing: bool, actor: Any) -> ImportJob:
    """Store an uploaded file as a pending job, once it passed the file bounds (size, format,
    rows); a file that does not is refused as a whole (ServiceError) and nothing is kept."""
    name = Path(upload.name).name[:255]
    upload.name = get_valid_filename(name) or "upload"
    job = ImportJob.objects.create(file=upload, original_name=name, country=country,
                                   all_or_nothing=all_or_nothing, created_by=actor)
    try:
        rows = estimate_rows(job.file.path, check_file(job.file.path))
    except ImportFileError as exc:
        job.file.delete(save=False)
        job.delete()
        raise ServiceError(f"{name}: {exc}") from None
    job.total_rows = rows
    job.save(update_fields=["total_rows"])
    return job


def import_job_confirm(*, job: ImportJob, actor: Any, all_or_nothing: bool) -> ImportJob:
    """The importer confirms a previewed job; refused (ServiceError) when it is not waiting
    for that, or when the preview says nothing would be imported."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != J.PREVIEWED or job.confirmed_at is not None:
            raise ServiceError("This import has already been confirmed.")
        valid = job.created_count + job.updated_count + job.unchanged_count
        if all_or_nothing and job.rejected_count:
            raise ServiceError(
                f"Nothing imported: {job.rejected_count:,} rows are refused and the import is all "
                "or nothing. Fix the file and upload it again, or tick “Import only the valid rows”.")
        if not valid:
            raise ServiceError("Nothing to import: no row is valid.")
        job.all_or_nothing = all_or_nothing
        job.confirmed_at = timezone.now()
        job.confirmed_by = actor
        job.save(update_fields=["all_or_nothing", "confirmed_at", "confirmed_by"])
    return job


def import_job_claim(*, job_id: int, confirm: bool, total_rows: int) -> bool:
    """Mark an import job running if it waits for this step (preview, or a confirmed
    import). A conditional UPDATE, so a task delivered twice, or a job resumed by beat
    while its own task starts, runs once. False: another run has it."""
    waiting = ImportJob.objects.filter(pk=job_id)
    waiting = (waiting.filter(status=J.PREVIEWED, confirmed_at__isnull=False) if confirm
               else waiting.filter(status=J.PENDING))
    return bool(waiting.update(status=J.RUNNING, processed_rows=0, total_rows=total_rows))


def _progress_alias() -> str:
    """The autocommit alias on PostgreSQL; SQLite has one writer, so progress stays in the
    import's own transaction there (seen when it ends)."""
    if PROGRESS_DB in connections.settings and connections[PROGRESS_DB].vendor == "postgresql":
        return PROGRESS_DB
    return DEFAULT_DB_ALIAS


def import_job_progress(*, job_id: int, processed: int) -> None:
    """How far a running job is; best effort, never a reason to fail an import."""
    try:
        ImportJob.objects.using(_progress_alias()).filter(pk=job_id).update(processed_rows=processed)
    except Exception:  # noqa: BLE001 - progress is nice to have
        log.warning("import job %s: progress not written", job_id, exc_info=True)


def import_job_progress_close() -> None:
    """Give the progress connection back (a worker thread that ran a job)."""
    if _progress_alias() == PROGRESS_DB:
        connections[PROGRESS_DB].close()


def import_job_finish(*, job_id: int, confirm: bool, summary: ImportCounts, errors: File | None,
                      now: dt.datetime | None = None) -> str:
    """Store what a preview (confirm=False) or an import found: counts, message, the error
    file; returns the new status (previewed, done or failed)."""
    job = ImportJob.objects.get(pk=job_id)
    if summary.file_error:
        status = J.FAILED
    elif not confirm:
        status = J.PREVIEWED
    else:
        status = J.DONE if summary.imported else J.FAILED
    job.status = status
    job.total_rows = job.processed_rows = summary.rows
    job.created_count, job.updated_count = summary.created, summary.changed
    job.unchanged_count, job.rejected_count = summary.unchanged, summary.refused
    job.message = summary.message()
    if job.error_file:
        job.error_file.delete(save=False)
    if errors is not None and (summary.error_count or summary.file_error):
        job.error_file.save(f"{Path(job.original_name).stem}-errors.csv", errors, save=False)
    if confirm or status == J.FAILED:
        job.finished_at = now or timezone.now()
    job.save()
    return status


def import_job_fail(*, job_id: int, message: str, now: dt.datetime | None = None) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        status=J.FAILED, finished_at=now or timezone.now(), message=message
    )
