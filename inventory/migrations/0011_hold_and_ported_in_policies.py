"""The new default policy rows (hold 30 days; ported-in manual 28, expired 84, terminated 56,
swapped out 28 days) and the Ops groups again, so that Ops gets the new set-reserved-for
permission. Both steps read the one table in inventory.defaults and are idempotent."""

from django.db import migrations

from inventory.defaults import ensure_groups, ensure_policies


def add_policies(apps, schema_editor):
    ensure_policies(apps)


def refresh_groups(apps, schema_editor):
    ensure_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0010_hold_reserved_for"),
    ]

    operations = [
        migrations.RunPython(add_policies, migrations.RunPython.noop),
        migrations.RunPython(refresh_groups, migrations.RunPython.noop),
    ]
