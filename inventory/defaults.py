"""The rows the product ships with: default life-cycle periods and the Ops groups.

Written once and used twice: by data migration inventory/0002 (with the historical app
registry) and by the test set-up, which puts them back after a test empties the tables.
"""

from __future__ import annotations

# (cause, days, notes, is_ported_in): None = any number; True = the ported-in row.
# The notes are what ops read on the life-cycle policies page (where each period comes from:
# the seeds' workflow, peers' practice and B3Networks' published ported-in periods, in
# docs/architecture.md).
DEFAULT_POLICIES: list[tuple[str, int, str, bool | None]] = [
    ("manual", 28, "Default: a manual reservation lasts 28 days", None),
    ("subscription_expired", 56, "Default: after a subscription expires, its numbers stay reserved "
                                 "for the client 56 days", None),
    ("subscription_terminated", 28, "Default: after a subscription is terminated, its numbers stay "
                                    "reserved for the client 28 days", None),
    ("swapped_out", 1, "Default: a number swapped out of a subscription stays reserved for the "
                       "client 1 day", None),
    ("lock", 28, "Default: a lock lasts 28 days", None),
    ("cooling", 0, "Default: off. A number whose reservation ends is available at once; set days "
                   "to let it rest first", None),
    ("hold", 30, "Default: while a subscription is suspended, its numbers are held 30 days", None),
    ("notice_lead", 7, "Default: the expiry notice goes out 7 days before a reservation ends", None),
    ("manual", 28, "Default for ported-in numbers: a manual reservation lasts 28 days", True),
    ("subscription_expired", 84, "Default for ported-in numbers: reserved for the client 84 days "
                                 "after the subscription expires", True),
    ("subscription_terminated", 56, "Default for ported-in numbers: reserved for the client 56 days "
                                    "after the subscription is terminated", True),
    ("swapped_out", 28, "Default for ported-in numbers: reserved for the client 28 days after "
                        "being swapped out", True),
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
