"""The Ops groups again, now that the events and api apps exist: Ops gets their permissions
(the event feed, webhook endpoints, replay, rotation, API keys), Ops read-only their view_
permissions (inventory.defaults.ensure_groups, idempotent)."""

from django.db import migrations

from inventory.defaults import ensure_groups


def refresh_groups(apps, schema_editor):
    ensure_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("events", "0002_beat_schedule"),
        ("inventory", "0009_import_job_lease"),
        ("subscriptions", "0002_history_on_parties"),
        ("notifications", "0002_cancelled_status_and_default_schedules"),
    ]

    operations = [
        migrations.RunPython(refresh_groups, migrations.RunPython.noop),
    ]
