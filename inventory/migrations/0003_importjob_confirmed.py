"""Who confirmed an import after its preview, and a beat schedule that resumes queued imports.

A job is queued as a database row first; the enqueue is best-effort (the broker is never in
an admin request's way), so beat picks up any job a missed enqueue left waiting.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

SCHEDULE = ("Resume queued imports", "inventory.import_jobs_resume", 1, "minutes")


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    name, task, every, period = SCHEDULE
    interval = IntervalSchedule.objects.filter(every=every, period=period).first()
    if interval is None:
        interval = IntervalSchedule.objects.create(every=every, period=period)
    PeriodicTask.objects.get_or_create(
        name=name,
        defaults={"task": task, "interval": interval, "enabled": True,
                  "description": "Default schedule (inventory/migrations/0003)."},
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SCHEDULE[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0002_defaults_and_search_indexes'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='importjob',
            name='confirmed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='importjob',
            name='confirmed_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
