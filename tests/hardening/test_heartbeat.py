"""/healthz reports the worker and beat by their heartbeats, and a real worker + beat on the
embedded broker (kombu's SQLAlchemy transport on an SQLite file) writes them."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from ops.models import Heartbeat
from ops.services import heartbeat_record
from tests.notifications.conftest import wait_for
from tests.notifications.test_celery_e2e import database_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def heartbeats_checked(settings):
    settings.HEALTHZ_CHECK_HEARTBEATS = True
    settings.HEARTBEAT_STALE_SECONDS = 120
    return settings


@pytest.mark.django_db
def test_healthz_is_ok_with_fresh_heartbeats_and_reports_their_age(client, heartbeats_checked):
    heartbeat_record(name="worker", now=timezone.now() - dt.timedelta(seconds=30))
    heartbeat_record(name="beat")
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["database"] == body["broker"] == body["worker"] == body["beat"] == "ok"
    assert 29 <= body["worker_age_seconds"] <= 40
    assert body["beat_age_seconds"] <= 10


@pytest.mark.django_db
def test_healthz_answers_503_when_the_worker_heartbeat_is_stale(client, heartbeats_checked):
    heartbeat_record(name="worker", now=timezone.now() - dt.timedelta(seconds=121))
    heartbeat_record(name="beat")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["worker"].startswith("stale") and body["worker_age_seconds"] >= 121
    assert body["beat"] == "ok"


@pytest.mark.django_db
def test_healthz_answers_503_when_beat_was_never_seen(client, heartbeats_checked):
    heartbeat_record(name="worker")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["beat"].startswith("missing")


@pytest.fixture
def embedded_worker(tmp_path):
    """A real `celery worker --beat` with the embedded defaults (no REDIS_URL)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CELERY_", "EMAIL_", "REDIS_URL"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "numbermgmt.settings", "SECRET_KEY": "e2e", "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0", "ALLOWED_HOSTS": "*", "VAR_DIR": str(tmp_path),
        "DATABASE_URL": database_url(), "HEARTBEAT_INTERVAL_SECONDS": "1", "LOG_LEVEL": "INFO",
    })
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "numbermgmt", "worker", "--beat", "--pool=solo",
         "--loglevel=INFO", "--schedule", str(tmp_path / "beat-schedule")],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield proc, tmp_path
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    sys.stdout.write("\n--- worker.log (last lines)\n" + "\n".join(log.read_text().splitlines()[-20:]))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_on_the_embedded_broker_write_heartbeats(
    client, settings, embedded_worker
):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_second = IntervalSchedule.objects.create(every=1, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="Worker heartbeat", defaults={"task": "ops.heartbeat_worker_task", "interval": every_second}
    )
    proc, var_dir = embedded_worker
    wait_for(lambda: Heartbeat.objects.filter(name="beat").exists(), timeout=60, what="beat's heartbeat")
    first = wait_for(lambda: Heartbeat.objects.filter(name="worker").first(), timeout=60,
                     what="the worker's heartbeat (a task sent by beat through the broker)")
    # it keeps beating: a later heartbeat overwrites the first
    wait_for(lambda: Heartbeat.objects.get(name="worker").at > first.at, timeout=30,
             what="a second worker heartbeat")
    assert proc.poll() is None, "the worker exited"
    assert (var_dir / "broker.sqlite3").exists()  # the embedded broker is an SQLite file

    settings.HEALTHZ_CHECK_HEARTBEATS = True
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["worker"] == "ok" and response.json()["beat"] == "ok"

    # the worker dies: once its heartbeat is older than the threshold, /healthz says 503
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    settings.HEARTBEAT_STALE_SECONDS = 2
    response = wait_for(lambda: (r := client.get("/healthz")).json()["worker"].startswith("stale") and r,
                        timeout=30, what="/healthz to notice the dead worker")
    assert response.status_code == 503


def test_delivered_messages_are_pruned_from_the_embedded_broker(tmp_path, settings):
    """kombu's SQLAlchemy transport keeps what it delivered; the heartbeat task prunes it."""
    import sqlite3

    from kombu import Connection

    from ops.services import broker_prune_delivered

    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    settings.CELERY_BROKER_URL = url
    with Connection(url) as conn:
        queue = conn.SimpleQueue("prune-test")
        for i in range(3):
            queue.put({"n": i})
        queue.get(timeout=5).ack()
        queue.get(timeout=5).ack()
        queue.close()
    with sqlite3.connect(tmp_path / "broker.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM kombu_message WHERE visible = 0").fetchone() == (2,)
        assert broker_prune_delivered() == 0  # delivered just now: kept for an hour
        db.execute("UPDATE kombu_message SET timestamp = datetime('now', 'localtime', '-2 hours') "
                   "WHERE visible = 0")
    assert broker_prune_delivered() == 2
    with sqlite3.connect(tmp_path / "broker.sqlite3") as db:
        assert db.execute("SELECT count(*), sum(visible) FROM kombu_message").fetchone() == (1, 1)
