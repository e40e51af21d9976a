"""The Ops groups (inventory 0002) may read the audit log."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = ("Ops", "Ops read-only")


def grant(apps, schema_editor):
    config = apps.get_app_config("audit")
    had_module = getattr(config, "models_module", None)
    config.models_module = had_module or True  # create_permissions skips apps without models
    create_permissions(config, apps=apps, verbosity=0)
    config.models_module = had_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="audit", codename="view_auditlog")
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for permission in Permission.objects.filter(content_type__app_label="audit", codename="view_auditlog"):
        for group in Group.objects.filter(name__in=GROUPS):
            group.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_audit_log_permission"),
        ("inventory", "0002_defaults_and_search_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
