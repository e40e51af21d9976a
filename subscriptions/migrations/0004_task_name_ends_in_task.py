"""The subscription sweep's task name ends in `_task` like every other: its stored beat row
follows (the same rename as inventory 0007). Reversible."""

from django.db import migrations
from django.utils import timezone

OLD, NEW = "subscriptions.subscriptions_expire_due", "subscriptions.subscriptions_expire_due_task"


def _rename(apps, old: str, new: str) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    PeriodicTask.objects.filter(task=old).update(task=new)
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def forwards(apps, schema_editor):
    _rename(apps, OLD, NEW)


def backwards(apps, schema_editor):
    _rename(apps, NEW, OLD)


class Migration(migrations.Migration):

    dependencies = [
        ("subscriptions", "0003_suspended_status"),
        ("notifications", "0002_cancelled_status_and_default_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
