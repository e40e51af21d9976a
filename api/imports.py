"""The API's one entry into the import pipeline, kept in this small module so it is easy to
re-point: it does what the admin's upload and confirm pages do (inventory/admin_import.py:
ImportJob row → inventory.imports.run_job / enqueue_job). When the import-job services
(DESIGN §2: import_jobs.py start/confirm) land, these two functions become calls to them."""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from inventory import imports
from inventory.choices import ImportJobStatus as J
from inventory.models import ImportJob


class ImportRefused(Exception):
    """The upload or the confirmation is refused; the message says why."""


def _background(rows: int) -> bool:
    return rows > imports.limits()["background_rows"]


def api_import_start(*, upload, actor, country: str, valid_only: bool, dry_run: bool) -> ImportJob:
    """Store the upload as a job and preview it (in the background when it is big). Without
    dry_run a previewed small file is confirmed at once; a big one waits for confirm."""
    imports.check_size(upload.size)  # ImportFileError: the admin's bound
    name = Path(upload.name or "upload").name[:255]
    upload.name = get_valid_filename(name) or "upload"
    job = ImportJob.objects.create(file=upload, original_name=name, country=country,
                                   all_or_nothing=not valid_only, dry_run=dry_run, created_by=actor)
    try:
        kind = imports.check_file(job.file.path)
        rows = imports.estimate_rows(job.file.path, kind)
    except imports.ImportFileError as exc:
        job.file.delete(save=False)
        job.delete()
        raise ImportRefused(f"{name}: {exc}") from None
    job.total_rows = rows
    job.save(update_fields=["total_rows"])
    if _background(rows):
        imports.enqueue_job(job, confirm=False)
        return job
    imports.run_job(job.pk, confirm=False)
    job.refresh_from_db()
    if not dry_run and job.status == J.PREVIEWED:
        with contextlib.suppress(ImportRefused):  # it stays previewed; counts and errors.csv say why
            api_import_confirm(job=job, actor=actor, valid_only=valid_only)
        job.refresh_from_db()
    return job


def api_import_confirm(*, job: ImportJob, actor, valid_only: bool) -> ImportJob:
    """Run a previewed job (the admin's confirm): refused when all-or-nothing meets refused
    rows, when nothing is valid, or when it was confirmed already."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != J.PREVIEWED or job.confirmed_at is not None:
            raise ImportRefused(f"This import is {job.get_status_display().lower()}"
                                f"{' and confirmed already' if job.confirmed_at else ''}.")
        all_or_nothing = not valid_only
        valid = job.created_count + job.updated_count + job.unchanged_count
        if all_or_nothing and job.rejected_count:
            raise ImportRefused(f"Nothing imported: {job.rejected_count:,} rows are refused and the "
                                "import is all or nothing; fix the file, or confirm with valid_only.")
        if not valid:
            raise ImportRefused("Nothing to import: no row is valid.")
        job.all_or_nothing = all_or_nothing
        job.confirmed_at = timezone.now()
        job.confirmed_by = actor
        job.save(update_fields=["all_or_nothing", "confirmed_at", "confirmed_by"])
    if _background(job.total_rows):
        imports.enqueue_job(job, confirm=True)
    else:
        imports.run_job(job.pk, confirm=True)
    job.refresh_from_db()
    return job
