"""A "cancelled" status for notices no longer true, and the default beat schedules.

The schedules are django-celery-beat rows, editable in the admin ("Periodic tasks").
Existing rows of the same name are left as they are (an admin may have changed them).
"""

from django.db import migrations, models
from django.utils import timezone

# name → (task, every, period)
SCHEDULES = {
    "Expire due reservations, locks and cooling": ("inventory.numbers_expire_due", 5, "minutes"),
    "Queue notices for reservations and locks ending soon": (
        "notifications.notices_queue_due", 15, "minutes"),
    "Send pending notices": ("notifications.notices_send_pending", 1, "minutes"),
    "Expire ended subscriptions": ("subscriptions.subscriptions_expire_due", 1, "hours"),
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
                      "description": "Default schedule (notifications/migrations/0002)."},
        )
    # Tell a running beat to reload its schedule.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0002_defaults_and_search_indexes'),
        ('notifications', '0001_initial'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='notice',
            name='notice_status_valid',
        ),
        migrations.AlterField(
            model_name='notice',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('failed', 'Failed'), ('cancelled', 'Cancelled (no longer true)')], default='pending', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='notice',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'sent', 'failed', 'cancelled'])), name='notice_status_valid'),
        ),
        migrations.RunPython(create_schedules, remove_schedules),
    ]
