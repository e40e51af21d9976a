"""Import jobs that end: a lease on a running job (renewed with its progress), the runs of
its current step, when its files were purged; and the beat schedules that recover jobs
whose worker died (every minute) and purge files past the retention (every hour).

Written by hand (ImportJob's fields only). The schedules are django-celery-beat rows,
editable in the admin; existing rows of the same name are left as they are.
"""

from django.db import migrations, models
from django.utils import timezone

# name → (task, every, period)
SCHEDULES = {
    "Recover imports whose worker stopped": ("inventory.import_jobs_recover_task", 1, "minutes"),
    "Delete import files past the retention": ("inventory.import_files_purge_task", 1, "hours"),
}


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, (task, every, period) in SCHEDULES.items():
        interval = IntervalSchedule.objects.filter(every=every, period=period).first()
        if interval is None:
            interval = IntervalSchedule.objects.create(every=every, period=period)
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "interval": interval, "enabled": True,
                      "description": "Default schedule (inventory/migrations/0009)."},
        )
    # Tell a running beat to reload its schedule.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0008_history_on_catalogue"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="lease_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="importjob",
            name="worker",
            field=models.CharField(blank=True, editable=False, max_length=200,
                                   help_text="host:pid:run of the worker that holds (or last held) the job."),
        ),
        migrations.AddField(
            model_name="importjob",
            name="attempts",
            field=models.PositiveSmallIntegerField(
                default=0, editable=False, help_text="Runs started of the current step (preview, then import)."),
        ),
        migrations.AddField(
            model_name="importjob",
            name="files_purged_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True,
                help_text="When the uploaded file and its error report were deleted (retention)."),
        ),
        migrations.RunPython(create_schedules, remove_schedules),
    ]
