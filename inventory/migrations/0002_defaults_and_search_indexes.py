"""Default life-cycle periods, the Ops groups, and PostgreSQL-only search indexes."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from inventory.defaults import ensure_groups, ensure_policies

PG_INDEXES = [
    # contains ("65") and suffix ("*1234") patterns; prefix uses the unique index's _like twin.
    "CREATE INDEX IF NOT EXISTS number_e164_trgm ON inventory_phonenumber USING gin (e164 gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS number_tags_trgm ON inventory_phonenumber USING gin (tags gin_trgm_ops)",
]


def add_policies(apps, schema_editor):
    ensure_policies(apps)


def add_groups(apps, schema_editor):
    ensure_groups(apps)


def pg_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in PG_INDEXES:
        schema_editor.execute(sql)


def drop_pg_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in ("number_e164_trgm", "number_tags_trgm"):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("subscriptions", "0001_initial"),
        ("notifications", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(add_policies, migrations.RunPython.noop),
        migrations.RunPython(add_groups, migrations.RunPython.noop),
        migrations.RunPython(pg_indexes, drop_pg_indexes),
    ]
