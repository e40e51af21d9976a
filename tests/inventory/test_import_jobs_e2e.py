"""A real `celery -A numbermgmt worker` (tests.notifications' helpers) on real Redis runs a big
import from the same PostgreSQL test database and is killed with SIGKILL mid-import. The job
must end: run again to completion by another worker, or failed with its reason once its runs
are used up; never "running" forever, never half-written.

PostgreSQL because the worker is another process (the SQLite test database lives in memory).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from inventory.choices import ImportJobStatus as J
from inventory.imports import CHUNK_ROWS, job_runs_in_background
from inventory.models import ImportJob, PhoneNumber
from inventory.services import import_job_confirm, import_job_start
from inventory.services.import_jobs import import_jobs_recover
from inventory.tasks import import_job_dispatch
from tests.notifications.conftest import (  # noqa: F401 - fixtures are used by name
    REDIS_URL_FOR_TESTS,
    celery_broker,
    redis_db,
    smtp_server,
    wait_for,
)
from tests.notifications.test_celery_e2e import start_worker  # noqa: F401 - a fixture

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROWS = 2 * CHUNK_ROWS + CHUNK_ROWS // 2  # progress after the first chunk, work left after it


@pytest.fixture
def big_job(settings, tmp_path, ops_user, sample_catalog) -> ImportJob:
    """A file far above the background threshold, previewed by a worker, confirmed."""
    settings.MEDIA_ROOT = tmp_path / "media"  # the worker's too (VAR_DIR=tmp_path)
    lines = ["number,country,vendor,sku",
             *(f"+656{i:07d},SG,Singtel Wholesale,SG-DID-STD" for i in range(ROWS))]
    upload = SimpleUploadedFile("big.csv", "\n".join(lines).encode())
    job = import_job_start(upload=upload, country="SG", all_or_nothing=True, actor=ops_user)
    assert job_runs_in_background(job)
    return job


def status(job: ImportJob) -> str:
    return ImportJob.objects.values_list("status", flat=True).get(pk=job.pk)


def preview_and_confirm(job: ImportJob, actor) -> None:
    with celery_broker(REDIS_URL_FOR_TESTS):
        assert import_job_dispatch(job=job, confirm=False)
        wait_for(lambda: status(job) == J.PREVIEWED, timeout=180, what="the worker's preview")
        job = import_job_confirm(job=job, actor=actor, all_or_nothing=True)
        assert import_job_dispatch(job=job, confirm=True)


def kill_mid_import(worker: subprocess.Popen, job: ImportJob, *, run: int) -> None:
    """SIGKILL the worker once the job's progress shows its import `run` is under way."""
    wait_for(lambda: ImportJob.objects.filter(pk=job.pk, status=J.RUNNING, attempts=run,
                                              processed_rows__gt=0).exists(),
             timeout=180, what=f"run {run} of the import to write progress")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    job.refresh_from_db()
    assert job.status == J.RUNNING and 0 < job.processed_rows < ROWS  # died mid-import
    assert PhoneNumber.objects.count() == 0  # its transaction died with its connection


def after_lease(settings) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.IMPORT_LEASE_SECONDS + 1)


def recover(settings) -> None:
    with celery_broker(REDIS_URL_FOR_TESTS):  # the run queued again goes to this test's queue
        assert import_jobs_recover(now=timezone.now()) == 0  # the lease has not run out yet
        assert import_jobs_recover(now=after_lease(settings)) == 1


def test_a_killed_worker_s_import_runs_again_to_completion(
        start_worker, big_job, ops_user, settings):  # noqa: F811 - the imported fixture
    first = start_worker()
    preview_and_confirm(big_job, ops_user)
    kill_mid_import(first, big_job, run=1)

    start_worker()  # another worker; beat's recovery (here called with a `now` past the lease)
    recover(settings)
    wait_for(lambda: status(big_job) in (J.DONE, J.FAILED), timeout=240,
             what="the second worker to finish the import")
    big_job.refresh_from_db()
    assert (big_job.status, big_job.attempts, big_job.lease_until) == (J.DONE, 2, None)
    assert big_job.created_count == ROWS
    assert PhoneNumber.objects.count() == ROWS
    assert PhoneNumber.history.count() == ROWS  # one history row each: nothing written twice


def test_an_import_whose_workers_keep_dying_fails_with_its_reason(
        start_worker, big_job, ops_user, settings, client):  # noqa: F811 - the imported fixture
    assert settings.IMPORT_MAX_ATTEMPTS == 2
    first = start_worker()
    preview_and_confirm(big_job, ops_user)
    kill_mid_import(first, big_job, run=1)
    second = start_worker()
    recover(settings)  # queued again; the second worker takes it, and is killed too
    kill_mid_import(second, big_job, run=2)
    recover(settings)

    big_job.refresh_from_db()
    assert big_job.status == J.FAILED and big_job.finished_at is not None
    assert "stopped (killed or restarted) twice" in big_job.message
    assert PhoneNumber.objects.count() == 0 and PhoneNumber.history.count() == 0
    assert import_jobs_recover(now=after_lease(settings)) == 0  # ended for good

    client.force_login(ops_user)
    page = client.get(reverse("admin:inventory_phonenumber_import_job", args=[big_job.uuid]))
    assert "stopped (killed or restarted) twice" in page.content.decode()
