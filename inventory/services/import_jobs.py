"""Every write of an ImportJob: start, claim, progress, the stored preview, confirm, done, fail,
and beat's recovery of jobs whose worker died and purge of old files.

The admin pages and the Celery task only call these. Progress is written through the
second database alias `progress` (autocommit, settings.DATABASES): the import itself runs
in one long transaction, whose own writes stay invisible to the admin's poller until it
ends.

Leases: a claim gives the run a lease (`lease_until`, settings.IMPORT_LEASE_SECONDS) under
its own name (`worker`: host, pid, run); each progress write renews it. A worker that is
killed stops renewing, and `import_jobs_recover` (beat, every minute) runs the step again
(up to settings.IMPORT_MAX_ATTEMPTS runs) or fails the job with the reason. Nothing is
half-written either way: the import is one transaction, which dies with its connection.
A run that finds its lease taken over (progress, finish, fail) writes nothing more.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import get_valid_filename

from events.choices import EventType
from events.services import events_emit

from ..choices import ImportJobStatus
from ..files import ImportFileError, check_file, estimate_rows
from ..models import ImportJob
from .results import ServiceError

J = ImportJobStatus
PROGRESS_DB = "progress"
log = logging.getLogger(__name__)
# The runs this thread claimed: job id → (its `worker` name, whether the claim was committed).
_claims = threading.local()


class ImportJobLost(RuntimeError):
    """This run's lease ran out and another run took the job: stop, write nothing more."""


def _held() -> dict[int, tuple[str, bool]]:
    if not hasattr(_claims, "jobs"):
        _claims.jobs = {}
    return _claims.jobs


def _lease_end(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=settings.IMPORT_LEASE_SECONDS)


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
        if job.files_purged_at:
            raise ServiceError("The file was deleted after the retention period; upload it again.")
        job.all_or_nothing = all_or_nothing
        job.confirmed_at = timezone.now()
        job.confirmed_by = actor
        job.attempts = 0  # the import is a new step: its own runs
        job.save(update_fields=["all_or_nothing", "confirmed_at", "confirmed_by", "attempts"])
    return job


def import_job_claim(*, job_id: int, confirm: bool, total_rows: int,
                     now: dt.datetime | None = None) -> bool:
    """Mark an import job running, under a lease in this run's name, if it waits for this
    step (preview, or a confirmed import). A conditional UPDATE, so a task delivered twice,
    or a job resumed by beat while its own task starts, runs once. False: another run has it."""
    waiting = ImportJob.objects.filter(pk=job_id)
    waiting = (waiting.filter(status=J.PREVIEWED, confirmed_at__isnull=False) if confirm
               else waiting.filter(status=J.PENDING))
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    claimed = bool(waiting.update(
        status=J.RUNNING, processed_rows=0, total_rows=total_rows, worker=worker,
        lease_until=_lease_end(now or timezone.now()), attempts=F("attempts") + 1))
    if claimed:  # a claim inside a caller's transaction is not seen by the progress alias yet
        _held()[job_id] = (worker, not connections[DEFAULT_DB_ALIAS].in_atomic_block)
    return claimed


def _progress_alias() -> str:
    """The autocommit alias on PostgreSQL; SQLite has one writer, so progress stays in the
    import's own transaction there (seen when it ends)."""
    if PROGRESS_DB in connections.settings and connections[PROGRESS_DB].vendor == "postgresql":
        return PROGRESS_DB
    return DEFAULT_DB_ALIAS


def import_job_progress(*, job_id: int, processed: int, now: dt.datetime | None = None) -> None:
    """How far a running job is, which renews its lease; a failed write is no reason to fail
    an import. Raises ImportJobLost when another run took the job over (this run's lease had
    run out): the import stops and its transaction rolls back."""
    alias = _progress_alias()
    worker, committed = _held().get(job_id, ("", False))
    if not (committed or alias == DEFAULT_DB_ALIAS):
        worker = ""  # the claim is not visible there: no fence, only the progress
    jobs = ImportJob.objects.using(alias).filter(pk=job_id)
    if worker:
        jobs = jobs.filter(status=J.RUNNING, worker=worker)
    try:
        renewed = jobs.update(processed_rows=processed, lease_until=_lease_end(now or timezone.now()))
    except Exception:  # noqa: BLE001 - progress is nice to have
        log.warning("import job %s: progress not written", job_id, exc_info=True)
        return
    if worker and not renewed:
        raise ImportJobLost(f"import job {job_id}: its lease passed to another run")


def import_job_progress_close() -> None:
    """Give the progress connection back (a worker thread that ran a job)."""
    if _progress_alias() == PROGRESS_DB:
        connections[PROGRESS_DB].close()


def import_job_finish(*, job_id: int, confirm: bool, summary: ImportCounts, errors: File | None,
                      now: dt.datetime | None = None) -> str:
    """Store what a preview (confirm=False) or an import found: counts, message, the error
    file; returns the new status (previewed, done or failed). Nothing is stored when another
    run took the job over meanwhile (this run's lease had run out)."""
    worker, _ = _held().pop(job_id, ("", False))
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if worker and (job.status != J.RUNNING or job.worker != worker):
            log.warning("import job %s: its lease passed to another run; this result is dropped",
                        job_id)
            return job.status
        return _finish(job, confirm=confirm, summary=summary, errors=errors, now=now)


def _finish(job: ImportJob, *, confirm: bool, summary: ImportCounts, errors: File | None,
            now: dt.datetime | None) -> str:
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
    job.lease_until = None
    job.save()
    if confirm:  # an import, done or failed (a preview changes nothing: no event)
        events_emit(type=EventType.IMPORT_FINISHED, actor=job.confirmed_by or job.created_by,
                    remark=job.message, now=job.finished_at, data={"import": {
                        "id": job.pk, "uuid": str(job.uuid), "file": job.original_name,
                        "status": status, "rows": job.total_rows, "created": job.created_count,
                        "changed": job.updated_count, "unchanged": job.unchanged_count,
                        "refused": job.rejected_count}})
    return status


def import_job_fail(*, job_id: int, message: str, now: dt.datetime | None = None) -> None:
    """A run ends in an error that is not the file's; not when another run holds the job."""
    worker, _ = _held().pop(job_id, ("", False))
    jobs = ImportJob.objects.filter(pk=job_id)
    if worker:
        jobs = jobs.filter(worker=worker)
    jobs.update(status=J.FAILED, finished_at=now or timezone.now(), message=message, lease_until=None)


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _lease_ended(now: dt.datetime) -> Q:
    """A running job whose worker stopped renewing its lease (or that was claimed before
    leases existed)."""
    return Q(status=J.RUNNING) & (Q(lease_until__lt=now) | Q(lease_until__isnull=True))


def import_jobs_recover(*, now: dt.datetime | None = None) -> int:
    """Beat (every minute): find running jobs whose lease ran out — the worker was killed,
    ran out of memory or its machine restarted — and queue the step again, or, after
    settings.IMPORT_MAX_ATTEMPTS runs, fail the job with a reason the user reads. Nothing was
    written by the dead run (one transaction). Returns how many jobs were recovered."""
    now = now or timezone.now()
    recovered = 0
    for pk in list(ImportJob.objects.filter(_lease_ended(now)).values_list("pk", flat=True)):
        try:
            recovered += _import_job_recover(job_id=pk, now=now)
        except OperationalError:  # SQLite: the import still holds the database (it is alive)
            log.warning("import job %s: busy, recovery left for the next run", pk, exc_info=True)
    return recovered


def _import_job_recover(*, job_id: int, now: dt.datetime) -> int:
    from ..tasks import import_job_enqueue  # the tasks module imports this one

    with transaction.atomic():
        job = (ImportJob.objects.select_for_update(skip_locked=True)
               .filter(_lease_ended(now), pk=job_id).first())
        if job is None:  # it ended, or renewed its lease, meanwhile
            return 0
        confirm = job.confirmed_at is not None
        step = "import" if confirm else "check"
        if job.attempts >= settings.IMPORT_MAX_ATTEMPTS:
            log.error("import job %s: worker %s stopped; %s runs used, failed", job.pk, job.worker,
                      job.attempts)
            job.status, job.finished_at = J.FAILED, now
            job.message = (f"The worker running this {step} stopped (killed or restarted) "
                           f"{_times(job.attempts)}; nothing was imported. Upload the file again, "
                           "or contact ops if it keeps happening.")
        else:
            log.warning("import job %s: worker %s stopped; the %s runs again", job.pk, job.worker,
                        step)
            job.status = J.PREVIEWED if confirm else J.PENDING
            job.processed_rows = 0
            import_job_enqueue(job_id=job.pk, confirm=confirm)  # after the commit
        job.lease_until = None
        job.save(update_fields=["status", "finished_at", "message", "processed_rows", "lease_until"])
    return 1


def import_files_purge(*, now: dt.datetime | None = None) -> int:
    """Beat: delete the uploaded file and error report of jobs that ended (or whose preview
    was left unconfirmed) more than settings.IMPORT_RETENTION_DAYS ago. The job row stays,
    with its counts, and its message says the files were deleted. Returns how many jobs."""
    now = now or timezone.now()
    days = settings.IMPORT_RETENTION_DAYS
    cutoff = now - dt.timedelta(days=days)
    ended = (Q(status__in=[J.DONE, J.FAILED]) | Q(status=J.PREVIEWED, confirmed_at__isnull=True))
    due = (ImportJob.objects.annotate(ended_at=Coalesce("finished_at", "created_at"))
           .filter(ended, ended_at__lt=cutoff, files_purged_at__isnull=True))
    purged = 0
    for pk in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            job = due.select_for_update(skip_locked=True).filter(pk=pk).first()
            if job is None:  # confirmed, or purged, meanwhile
                continue
            names = [str(f.name) for f in (job.file, job.error_file) if f]
            job.file.name = job.error_file.name = ""
            job.files_purged_at = now
            job.message = (f"{job.message} The uploaded file and its error report were deleted "
                           f"{days} days after the job ended.").strip()
            job.save(update_fields=["file", "error_file", "files_purged_at", "message"])
            for name in names:  # inside the transaction: a failed delete is retried next run
                default_storage.delete(name)
        purged += 1
    return purged
