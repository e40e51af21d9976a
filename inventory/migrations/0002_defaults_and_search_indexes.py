"""Default life-cycle periods, the Ops groups, and PostgreSQL-only search indexes."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

DEFAULT_POLICIES = [
    ("manual", 28, "seeds: manual reserve"),
    ("subscription_expired", 56, "seeds: subscription expired"),
    ("subscription_terminated", 28, "seeds: subscription terminated"),
    ("swapped_out", 1, "seeds: swapped out of a subscription"),
    ("lock", 28, "peer docs"),
    ("cooling", 0, "off; peers: Kazoo aging, VOSS cooling, JeraSoft hold"),
    ("notice_lead", 7, "seeds: notice lead time"),
]

PG_INDEXES = [
    # contains ("65") and suffix ("*1234") patterns; prefix uses the unique index's _like twin.
    "CREATE INDEX IF NOT EXISTS number_e164_trgm ON inventory_phonenumber USING gin (e164 gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS number_tags_trgm ON inventory_phonenumber USING gin (tags gin_trgm_ops)",
]


def add_policies(apps, schema_editor):
    Policy = apps.get_model("inventory", "LifecyclePolicy")
    for cause, days, notes in DEFAULT_POLICIES:
        Policy.objects.get_or_create(
            cause=cause, country="", sku=None, is_ported_in=None,
            defaults={"period_days": days, "notes": notes},
        )


def add_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for label in ("inventory", "subscriptions", "notifications", "auth"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(
        content_type__app_label__in=["inventory", "subscriptions", "notifications"]
    )
    ops, _ = Group.objects.get_or_create(name="Ops")
    # Ops does everything but delete rows outright: numbers leave through the life cycle.
    ops.permissions.set(ours.exclude(codename="delete_phonenumber"))
    readonly, _ = Group.objects.get_or_create(name="Ops read-only")
    readonly.permissions.set(ours.filter(codename__startswith="view_"))


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
