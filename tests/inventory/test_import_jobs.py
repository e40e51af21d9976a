"""Import jobs that end: a run's lease, beat's recovery when it stops renewing, the retention
of uploaded files. In one process, with an explicit `now`; tests/inventory/
test_import_jobs_e2e.py kills real workers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from inventory.choices import ImportJobStatus as J
from inventory.imports import run_job
from inventory.models import ImportJob, PhoneNumber
from inventory.services import ServiceError, import_job_confirm, import_job_start
from inventory.services.import_jobs import (
    ImportJobLost,
    import_files_purge,
    import_job_claim,
    import_job_progress,
    import_jobs_recover,
)
from tests.conftest import SAMPLES

pytestmark = pytest.mark.django_db
# Progress goes through its own connection on PostgreSQL: it sees committed rows only.
progress_seen = pytest.mark.django_db(transaction=True, databases=["default", "progress"])


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def dead_workers_forget_their_claims():
    """A claim here stands for a worker that then dies; a dead worker takes its thread's
    claims with it, so they do not outlive the test in this (living) thread."""
    yield
    from inventory.services import import_jobs

    import_jobs._claims.__dict__.clear()


def start(name: str, actor) -> ImportJob:
    upload = SimpleUploadedFile(name, (SAMPLES / name).read_bytes())
    return import_job_start(upload=upload, country="SG", all_or_nothing=False, actor=actor)


def after_lease(settings) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.IMPORT_LEASE_SECONDS + 1)


@progress_seen
def test_a_running_job_keeps_its_lease_while_it_writes_progress(ops_user, sample_catalog, settings):
    job = start("numbers-basic.csv", ops_user)
    claimed_at = timezone.now()
    assert import_job_claim(job_id=job.pk, confirm=False, total_rows=200, now=claimed_at)
    job.refresh_from_db()
    assert job.status == J.RUNNING and job.attempts == 1 and job.worker
    lease = dt.timedelta(seconds=settings.IMPORT_LEASE_SECONDS)
    assert job.lease_until == claimed_at + lease

    assert import_jobs_recover(now=claimed_at + lease / 2) == 0  # alive: left alone
    import_job_progress(job_id=job.pk, processed=100, now=claimed_at + lease / 2)
    assert import_jobs_recover(now=claimed_at + lease + dt.timedelta(seconds=1)) == 0  # renewed
    job.refresh_from_db()
    assert job.status == J.RUNNING and job.processed_rows == 100


def test_a_job_whose_worker_stopped_runs_again_then_fails_with_the_reason(
        client, ops_user, sample_catalog, settings, django_capture_on_commit_callbacks):
    from inventory.tasks import import_job_task

    job = start("numbers-basic.csv", ops_user)
    assert import_job_claim(job_id=job.pk, confirm=False, total_rows=200)  # then the worker dies
    with django_capture_on_commit_callbacks() as queued:
        assert import_jobs_recover(now=after_lease(settings)) == 1
    job.refresh_from_db()
    assert (job.status, job.lease_until, job.processed_rows) == (J.PENDING, None, 0)
    assert len(queued) == 1  # the preview is queued again (after the commit)

    assert import_job_task(job.pk) == J.PREVIEWED  # the second run completes
    import_job_confirm(job=job, actor=ops_user, all_or_nothing=True)
    for _ in range(settings.IMPORT_MAX_ATTEMPTS):  # the import's every run dies
        assert import_job_claim(job_id=job.pk, confirm=True, total_rows=200)
        with django_capture_on_commit_callbacks():
            assert import_jobs_recover(now=after_lease(settings)) == 1
    job.refresh_from_db()
    assert job.status == J.FAILED and job.finished_at is not None
    assert "stopped (killed or restarted) twice" in job.message
    assert "Upload the file again, or contact ops" in job.message
    assert PhoneNumber.objects.count() == 0
    assert import_job_task(job.pk, confirm=True) == J.FAILED  # a late redelivery runs nothing

    client.force_login(ops_user)
    page = client.get(reverse("admin:inventory_phonenumber_import_job", args=[job.uuid]))
    assert "stopped (killed or restarted) twice" in page.content.decode()


@progress_seen
def test_a_run_that_lost_its_lease_writes_nothing_more(ops_user, sample_catalog, settings,
                                                       django_capture_on_commit_callbacks):
    """A worker that stalled past its lease (not dead after all) while another run took over."""
    from inventory.imports import ImportSummary

    job = start("numbers-basic.csv", ops_user)
    assert import_job_claim(job_id=job.pk, confirm=False, total_rows=200)
    with django_capture_on_commit_callbacks():
        assert import_jobs_recover(now=after_lease(settings)) == 1
    with pytest.raises(ImportJobLost):  # its next progress write stops the stalled run
        import_job_progress(job_id=job.pk, processed=100)

    from inventory.services.import_jobs import import_job_finish

    stale = ImportSummary(name="numbers-basic.csv", rows=7, created=7)
    assert import_job_finish(job_id=job.pk, confirm=False, summary=stale, errors=None) == J.PENDING
    job.refresh_from_db()
    assert (job.status, job.created_count) == (J.PENDING, 0)
    assert run_job(job.pk, confirm=False) == J.PREVIEWED  # the run that holds it now
    job.refresh_from_db()
    assert job.created_count == 200


def test_files_are_deleted_after_the_retention_and_the_job_keeps_its_counts(
        client, ops_user, sample_catalog, settings):
    job = start("numbers-with-errors.csv", ops_user)
    run_job(job.pk, confirm=False)
    import_job_confirm(job=job, actor=ops_user, all_or_nothing=False)
    assert run_job(job.pk, confirm=True) == J.DONE
    job.refresh_from_db()
    files = [Path(job.file.path), Path(job.error_file.path)]
    assert all(f.exists() for f in files)
    counts = (job.created_count, job.rejected_count)
    assert counts[0] and counts[1]
    ended = job.finished_at
    days = dt.timedelta(days=settings.IMPORT_RETENTION_DAYS)

    assert import_files_purge(now=ended + days - dt.timedelta(minutes=1)) == 0
    assert all(f.exists() for f in files)
    assert import_files_purge(now=ended + days + dt.timedelta(minutes=1)) == 1
    assert not any(f.exists() for f in files)
    job.refresh_from_db()
    assert (job.status, job.created_count, job.rejected_count) == (J.DONE, *counts)
    assert not job.file and not job.error_file and job.files_purged_at is not None
    assert f"deleted {settings.IMPORT_RETENTION_DAYS} days after the job ended" in job.message
    assert import_files_purge(now=ended + 2 * days) == 0  # once

    client.force_login(ops_user)
    page = client.get(reverse("admin:inventory_phonenumber_import_job", args=[job.uuid]))
    assert page.status_code == 200 and "were deleted" in page.content.decode()
    errors = client.get(reverse("admin:inventory_phonenumber_import_errors", args=[job.uuid]))
    assert errors.status_code != 200


def test_a_preview_left_unconfirmed_is_purged_and_can_no_longer_be_confirmed(
        ops_user, sample_catalog, settings):
    job = start("numbers-basic.csv", ops_user)
    running = start("numbers-basic.csv", ops_user)
    run_job(job.pk, confirm=False)
    assert import_job_claim(job_id=running.pk, confirm=False, total_rows=200)
    later = timezone.now() + dt.timedelta(days=settings.IMPORT_RETENTION_DAYS, minutes=1)

    assert import_files_purge(now=later) == 1  # the preview; never a running job's file
    running.refresh_from_db()
    assert running.file and Path(running.file.path).exists()
    job.refresh_from_db()
    with pytest.raises(ServiceError, match="deleted after the retention period"):
        import_job_confirm(job=job, actor=ops_user, all_or_nothing=True)


def test_beat_has_the_recovery_and_purge_schedules():
    from django_celery_beat.models import PeriodicTask

    from numbermgmt.celery import app

    rows = dict(PeriodicTask.objects.filter(enabled=True).values_list("task", "interval__every"))
    assert rows["inventory.import_jobs_recover_task"] == 1  # every minute
    assert "inventory.import_files_purge_task" in rows
    app.loader.import_default_modules()
    assert {"inventory.import_jobs_recover_task", "inventory.import_files_purge_task"} <= set(app.tasks)
