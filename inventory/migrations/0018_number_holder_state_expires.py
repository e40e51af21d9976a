"""The partner summary at 10M numbers (a partner holding 1M): (holder, state, end) for the held
numbers only.

- the counts by holder and state are index-only range counts in index order (no hash of the
  partner's whole share), and btree deduplication keeps equal (holder, state, end) keys in one
  posting list, so each counted entry is cheap;
- the reservations ending per day are one range per holder (holder, 'reserved', window);
- "ending next" is one ordered read per holder stopping at 10, merged: the (state, expires_at)
  index walked every other holder's reservations ending first (335–520 ms at 10M);
- the table's `state=` and end-range filters find a holder part's matches, or that it has none.

Partial (organization IS NOT NULL): an available, cooling or locked number has no holder, so an
import or add of free numbers writes no entry here; only reserve/assign/release-like moves of
held numbers do. Built CONCURRENTLY on PostgreSQL (see 0016), so the migration is not atomic.
"""

from importlib import import_module

from django.db import migrations, models

AddIndexConcurrentlyOnPostgres = import_module(
    "inventory.migrations.0016_partner_scope_indexes").AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inventory", "0017_number_state_e164"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["organization", "state", "expires_at"],
                               condition=models.Q(organization__isnull=False),
                               name="number_holder_state_end"),
        ),
    ]
