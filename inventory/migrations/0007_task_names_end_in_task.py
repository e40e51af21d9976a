"""Celery task names end in `_task`: the stored beat schedules (django-celery-beat rows)
follow the renamed tasks of inventory and notifications (one rename, here). Reversible."""

from django.db import migrations
from django.utils import timezone

RENAMES = {
    "inventory.numbers_expire_due": "inventory.numbers_expire_due_task",
    "inventory.import_jobs_resume": "inventory.import_jobs_resume_task",
    "inventory.import_job": "inventory.import_job_task",
    "notifications.notices_queue_due": "notifications.notices_queue_due_task",
    "notifications.notices_send_pending": "notifications.notices_send_pending_task",
}


def _rename(apps, renames: dict[str, str]) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for old, new in renames.items():
        PeriodicTask.objects.filter(task=old).update(task=new)
    # Tell a running beat to reload its schedule.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forwards(apps, schema_editor):
    _rename(apps, RENAMES)


def backwards(apps, schema_editor):
    _rename(apps, {new: old for old, new in RENAMES.items()})


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0006_allocatable_index"),
        ("notifications", "0002_cancelled_status_and_default_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
