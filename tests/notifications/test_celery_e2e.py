"""End to end: a real `celery -A numbermgmt worker` process on real Redis, delivering to a real
SMTP server on localhost, reading the same PostgreSQL test database.

PostgreSQL because the worker is another process (the SQLite test database lives in memory).
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from inventory.services import number_assign
from notifications.models import Notice
from subscriptions.services import subscription_swap_number

from .conftest import REDIS_URL_FOR_TESTS, TEST_QUEUE, celery_broker, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.redis,
              pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def start_worker(tmp_path, smtp_server, redis_db):
    """start_worker(beat=False) → a running worker process; stopped after the test."""
    _, smtp_port = smtp_server
    processes: list[tuple[subprocess.Popen, Path]] = []

    def start(*, beat: bool = False) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "EMAIL_"))}
        env.update({
            "DJANGO_SETTINGS_MODULE": "numbermgmt.settings", "SECRET_KEY": "e2e", "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0", "ALLOWED_HOSTS": "*", "VAR_DIR": str(tmp_path),
            "DATABASE_URL": database_url(), "REDIS_URL": REDIS_URL_FOR_TESTS,
            "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp_port), "EMAIL_TIMEOUT": "5",
            "NOTICE_RETRY_BACKOFF_SECONDS": "1,1,1", "SUPPORT_EMAIL": settings.SUPPORT_EMAIL,
            "LOG_LEVEL": "INFO", "CELERY_TASK_DEFAULT_QUEUE": TEST_QUEUE,
        })
        log = tmp_path / f"worker-{len(processes)}.log"
        cmd = [sys.executable, "-m", "celery", "-A", "numbermgmt", "worker", "--pool=solo",
               "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
               "-n", f"e2e{len(processes)}-{TEST_QUEUE}@%h"]
        if beat:
            cmd += ["--beat", "--schedule", str(tmp_path / "beat-schedule")]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        processes.append((proc, log))
        return proc

    yield start
    for proc, log in processes:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        sys.stdout.write(f"\n--- {log.name} (last lines)\n" + "\n".join(log.read_text().splitlines()[-15:]))


def swap_out(make_numbers, service, ops_user):
    """An ops user swaps a number out: it is held for a day, and its notice is due now."""
    old, new = make_numbers(2)
    number_assign(numbers=[old], subscription=service, actor=ops_user, remark="go")
    start = time.perf_counter()
    subscription_swap_number(subscription=service, old=old, new=new, actor=ops_user,
                             remark="customer asked")
    return old, time.perf_counter() - start


def test_a_worker_sends_the_notice_retrying_after_an_smtp_failure(
        start_worker, smtp_server, make_numbers, service, ops_user):
    smtp, _ = smtp_server
    smtp.fail_next = 1  # the mail server says "451 try again later" once
    start_worker(beat=False)  # no beat: the kick and the task's own retry must do it

    with celery_broker(REDIS_URL_FOR_TESTS):
        number, _ = swap_out(make_numbers, service, ops_user)

    (received,) = wait_for(smtp.messages, timeout=60, what="the notice email")
    assert received["to"] == ["billing@beta.example"]
    assert number.e164 in received["message"].get_body(("plain",)).get_content()
    assert smtp.refused == 1
    notice = wait_for(lambda: Notice.objects.filter(status="sent").first(), timeout=10,
                      what="the notice marked sent")
    assert notice.attempts == 2
    assert notice.number_id == number.pk


def test_with_redis_down_the_action_succeeds_quickly_and_beat_sends_the_notice_later(
        start_worker, smtp_server, closed_port_url, make_numbers, service, ops_user):
    from django.apps import apps
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    smtp, _ = smtp_server
    with celery_broker(closed_port_url):  # Redis is down for the web process
        number, seconds = swap_out(make_numbers, service, ops_user)
    assert seconds < 2.5, f"the swap took {seconds:.2f} s with the broker down"
    notice = Notice.objects.get()
    assert notice.status == "pending"

    # Beat's schedule, as an admin would set it: send pending notices every second.
    migration = importlib.import_module(
        "notifications.migrations.0002_cancelled_status_and_default_schedules")
    migration.create_schedules(apps, None)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.filter(task="notifications.notices_send_pending_task").update(
        interval=every_second, last_run_at=None)
    PeriodicTask.objects.exclude(task="notifications.notices_send_pending_task").update(enabled=False)

    start_worker(beat=True)  # the broker is back, with a worker and beat
    (received,) = wait_for(smtp.messages, timeout=90, what="beat to send the missed notice")
    assert number.e164 in received["message"].get_body(("plain",)).get_content()
    notice.refresh_from_db()
    wait_for(lambda: Notice.objects.filter(pk=notice.pk, status="sent").exists(), timeout=10,
             what="the notice marked sent")
    print(f"\nswap with Redis down: {seconds:.2f} s")
