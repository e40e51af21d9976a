"""The default life-cycle policies' notes in words for ops, instead of the developers' source
notes ("seeds: …", "peer docs"). Only rows that still carry the old text are rewritten (a note
ops edited is left alone), each with a history row, as an edit in the admin would have.
The texts are written out here, not read from inventory.defaults, so that this step keeps
doing what it did when defaults.py changes later."""

from django.db import migrations
from django.utils import timezone

# (cause, is_ported_in, old note, new note)
NOTES = [
    ("manual", None, "seeds: manual reserve", "Default: a manual reservation lasts 28 days"),
    ("subscription_expired", None, "seeds: subscription expired",
     "Default: after a subscription expires, its numbers stay reserved for the client 56 days"),
    ("subscription_terminated", None, "seeds: subscription terminated",
     "Default: after a subscription is terminated, its numbers stay reserved for the client 28 days"),
    ("swapped_out", None, "seeds: swapped out of a subscription",
     "Default: a number swapped out of a subscription stays reserved for the client 1 day"),
    ("lock", None, "peer docs", "Default: a lock lasts 28 days"),
    ("cooling", None, "off; peers: Kazoo aging, VOSS cooling",
     "Default: off. A number whose reservation ends is available at once; set days to let it rest first"),
    ("hold", None, "seeds: JeraSoft hold while the package is suspended",
     "Default: while a subscription is suspended, its numbers are held 30 days"),
    ("notice_lead", None, "seeds: notice lead time",
     "Default: the expiry notice goes out 7 days before a reservation ends"),
    ("manual", True, "B3: ported-in, manual reserve",
     "Default for ported-in numbers: a manual reservation lasts 28 days"),
    ("subscription_expired", True, "B3: ported-in, subscription expired",
     "Default for ported-in numbers: reserved for the client 84 days after the subscription expires"),
    ("subscription_terminated", True, "B3: ported-in, subscription terminated",
     "Default for ported-in numbers: reserved for the client 56 days after the subscription is terminated"),
    ("swapped_out", True, "B3: ported-in, swapped out",
     "Default for ported-in numbers: reserved for the client 28 days after being swapped out"),
]
REASON = "default notes in words for ops"


def _rewrite(apps, pairs) -> None:
    Policy = apps.get_model("inventory", "LifecyclePolicy")
    History = apps.get_model("inventory", "HistoricalLifecyclePolicy")
    fields = [f.attname for f in Policy._meta.concrete_fields]
    now = timezone.now()
    for cause, ported, old, new in pairs:
        for policy in Policy.objects.filter(cause=cause, country="", sku=None, is_ported_in=ported,
                                            notes=old):
            policy.notes = new
            policy.save(update_fields=["notes"])
            History.objects.create(**{name: getattr(policy, name) for name in fields},
                                   history_date=now, history_type="~", history_change_reason=REASON)


def notes_for_ops(apps, schema_editor):
    _rewrite(apps, NOTES)


def notes_back(apps, schema_editor):
    _rewrite(apps, [(cause, ported, new, old) for cause, ported, old, new in NOTES])


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0013_labels_in_words"),
    ]

    operations = [
        migrations.RunPython(notes_for_ops, notes_back),
    ]
