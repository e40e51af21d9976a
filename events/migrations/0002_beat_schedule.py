"""The beat schedule that drains the webhook outbox every minute (editable in the admin).

With it, deliveries kicked while the broker was down go out as soon as a worker runs.
An existing row of the same name is left as it is (an admin may have changed it).
"""

from django.db import migrations
from django.utils import timezone

NAME = "Send due webhook deliveries"
TASK = "events.webhook_deliveries_send_task"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval = IntervalSchedule.objects.filter(every=1, period="minutes").first()
    if interval is None:
        interval = IntervalSchedule.objects.create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": interval, "enabled": True,
                  "description": "Default schedule (events/migrations/0002)."},
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
