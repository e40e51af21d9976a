"""Pre-merge stand-ins for inventory.services.import_job_start / import_job_confirm and
inventory.tasks.import_job_dispatch, which main has and this branch's base has not.
DELETE THIS MODULE after the merge (api/imports.py then imports the real ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from inventory import imports
from inventory.choices import ImportJobStatus as J
from inventory.models import ImportJob
from inventory.services import ServiceError


def import_job_start(*, upload: Any, country: str, all_or_nothing: bool, actor: Any) -> ImportJob:
    name = Path(upload.name).name[:255]
    upload.name = get_valid_filename(name) or "upload"
    job = ImportJob.objects.create(file=upload, original_name=name, country=country,
                                   all_or_nothing=all_or_nothing, created_by=actor)
    try:
        rows = imports.estimate_rows(job.file.path, imports.check_file(job.file.path))
    except imports.ImportFileError as exc:
        job.file.delete(save=False)
        job.delete()
        raise ServiceError(f"{name}: {exc}") from None
    job.total_rows = rows
    job.save(update_fields=["total_rows"])
    return job


def import_job_confirm(*, job: ImportJob, actor: Any, all_or_nothing: bool) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != J.PREVIEWED or job.confirmed_at is not None:
            raise ServiceError("This import has already been confirmed.")
        valid = job.created_count + job.updated_count + job.unchanged_count
        if all_or_nothing and job.rejected_count:
            raise ServiceError(f"Nothing imported: {job.rejected_count:,} rows are refused and the "
                               "import is all or nothing.")
        if not valid:
            raise ServiceError("Nothing to import: no row is valid.")
        job.all_or_nothing = all_or_nothing
        job.confirmed_at = timezone.now()
        job.confirmed_by = actor
        job.save(update_fields=["all_or_nothing", "confirmed_at", "confirmed_by"])
    return job


def import_job_dispatch(*, job: ImportJob, confirm: bool) -> bool:
    if job.total_rows <= imports.limits()["background_rows"]:
        imports.run_job(job.pk, confirm=confirm)
        return False
    imports.enqueue_job(job, confirm=confirm)
    return True
