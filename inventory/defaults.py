"""The rows the product ships with: default life-cycle periods and the Ops groups.

Written once and used twice: by data migration inventory/0002 (with the historical app
registry) and by the test set-up, which puts them back after a test empties the tables.
"""

from __future__ import annotations

DEFAULT_POLICIES = [
    ("manual", 28, "seeds: manual reserve"),
    ("subscription_expired", 56, "seeds: subscription expired"),
    ("subscription_terminated", 28, "seeds: subscription terminated"),
    ("swapped_out", 1, "seeds: swapped out of a subscription"),
    ("lock", 28, "peer docs"),
    ("cooling", 0, "off; peers: Kazoo aging, VOSS cooling, JeraSoft hold"),
    ("notice_lead", 7, "seeds: notice lead time"),
]
# The period a cause has when no LifecyclePolicy row matches (inventory.services.policies).
DEFAULT_DAYS: dict[str, int] = {cause: days for cause, days, _ in DEFAULT_POLICIES}
OUR_APPS = ("inventory", "subscriptions", "notifications")


def ensure_policies(apps) -> None:
    Policy = apps.get_model("inventory", "LifecyclePolicy")
    for cause, days, notes in DEFAULT_POLICIES:
        Policy.objects.get_or_create(
            cause=cause, country="", sku=None, is_ported_in=None,
            defaults={"period_days": days, "notes": notes},
        )


def ensure_groups(apps) -> None:
    """"Ops" may do everything but delete rows outright (numbers leave through the life
    cycle); "Ops read-only" may only look."""
    from django.contrib.auth.management import create_permissions

    for label in (*OUR_APPS, "auth"):
        config = apps.get_app_config(label)
        had_module = getattr(config, "models_module", None)
        config.models_module = had_module or True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = had_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.filter(content_type__app_label__in=OUR_APPS)
    ops, _ = Group.objects.get_or_create(name="Ops")
    ops.permissions.set(ours.exclude(codename="delete_phonenumber"))
    readonly, _ = Group.objects.get_or_create(name="Ops read-only")
    readonly.permissions.set(ours.filter(codename__startswith="view_"))


def ensure_defaults(apps=None) -> None:
    if apps is None:
        from django.apps import apps as live_apps

        apps = live_apps
    ensure_policies(apps)
    ensure_groups(apps)
