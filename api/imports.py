"""The API's one entry into the import pipeline, the same calls as the admin's upload and
confirm pages: import_job_start → import_job_dispatch (preview) → import_job_confirm →
import_job_dispatch (import). What is the API's own: without dry_run, a small file whose
preview passes is confirmed in the same request; a big one previews in the background and
waits for POST …/confirm/."""

from __future__ import annotations

import contextlib
from typing import Any

from inventory.choices import ImportJobStatus as J
from inventory.models import ImportJob
from inventory.services import ServiceError, import_job_confirm, import_job_start
from inventory.tasks import import_job_dispatch


def api_import_start(*, upload: Any, actor: Any, country: str, valid_only: bool,
                     dry_run: bool) -> ImportJob:
    """ServiceError when the file is refused as a whole (size, format, rows)."""
    job = import_job_start(upload=upload, country=country, all_or_nothing=not valid_only, actor=actor)
    if import_job_dispatch(job=job, confirm=False):
        return job  # previewing in the background
    job.refresh_from_db()
    if not dry_run and job.status == J.PREVIEWED:
        with contextlib.suppress(ServiceError):  # stays previewed; its counts and errors.csv say why
            job = api_import_confirm(job=job, actor=actor, valid_only=valid_only)
    job.refresh_from_db()
    return job


def api_import_confirm(*, job: ImportJob, actor: Any, valid_only: bool) -> ImportJob:
    """ServiceError when the job is not waiting for a confirmation or nothing would import."""
    job = import_job_confirm(job=job, actor=actor, all_or_nothing=not valid_only)
    import_job_dispatch(job=job, confirm=True)
    job.refresh_from_db()
    return job
