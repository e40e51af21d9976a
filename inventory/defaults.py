"""The rows the product ships with: default life-cycle periods and the Ops groups.

Written once and used twice: by data migration inventory/0002 (with the historical app
registry) and by the test set-up, which puts them back after a test empties the tables.
"""

from __future__ import annotations

# (cause, days, notes, is_ported_in): None = any number; True = the ported-in row.
DEFAULT_POLICIES: list[tuple[str, int, str, bool | None]] = [
    ("manual", 28, "seeds: manual reserve", None),
    ("subscription_expired", 56, "seeds: subscription expired", None),
    ("subscription_terminated", 28, "seeds: subscription terminated", None),
    ("swapped_out", 1, "seeds: swapped out of a subscription", None),
    ("lock", 28, "peer docs", None),
    ("cooling", 0, "off; peers: Kazoo aging, VOSS cooling", None),
    ("hold", 30, "seeds: JeraSoft hold while the package is suspended", None),
    ("notice_lead", 7, "seeds: notice lead time", None),
    # B3Networks' published periods for ported-in numbers.
    ("manual", 28, "B3: ported-in, manual reserve", True),
    ("subscription_expired", 84, "B3: ported-in, subscription expired", True),
    ("subscription_terminated", 56, "B3: ported-in, subscription terminated", True),
    ("swapped_out", 28, "B3: ported-in, swapped out", True),
]
# The period a cause has when no LifecyclePolicy row matches (inventory.services.policies):
# (cause, is_ported_in) → days, the any-number row under (cause, None).
DEFAULT_DAYS: dict[tuple[str, bool | None], int] = {
    (cause, ported): days for cause, days, _, ported in DEFAULT_POLICIES
}
OUR_APPS = ("inventory", "subscriptions", "notifications", "events", "api")


def ensure_policies(apps) -> None:
    Policy = apps.get_model("inventory", "LifecyclePolicy")
    for cause, days, notes, ported in DEFAULT_POLICIES:
        Policy.objects.get_or_create(
            cause=cause, country="", sku=None, is_ported_in=ported,
            defaults={"period_days": days, "notes": notes},
        )


def ensure_groups(apps) -> None:
    """"Ops" may do everything but delete rows outright (numbers leave through the life
    cycle); "Ops read-only" may only look."""
    from django.contrib.auth.management import create_permissions

    for label in (*OUR_APPS, "auth"):
        try:
            config = apps.get_app_config(label)
        except LookupError:  # not migrated yet at this step; api/0002 runs this again after it
            continue
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
