"""The partner dashboard at 10M numbers (a partner holding 1M), three indexes, one new:

- number_holder_state_end (new): (holder, state, end) for held numbers only. The summary's
  counts by holder and state are an index-only read grouped in its order (no hash of the
  partner's share; btree deduplication keeps equal keys in one posting list: 21 MB at 10M),
  the reservations ending per day one range per holder, "ending next" one ordered read per
  holder stopping at 10 (the (state, expires_at) index walked every other holder's
  reservations ending first: 335–520 ms at 10M). Partial (organization IS NOT NULL): an
  available, cooling or locked number has no holder, so an import or add of free numbers
  writes no entry; only moves of held numbers do.
- number_golden_scope replaces number_golden: the same key and condition (the few golden
  numbers, by id) with the columns the partner scope and table ask (number, holder, offered
  to, state, ported in), so a golden filter in the scope is an index-only scan (10M:
  golden+ported ~350 -> ~22 ms) instead of reading every golden row (103k pages). Same
  entries, wider (6.6 MB instead of 2.3 MB at 10M).
- number_offered_e164_end replaces number_offered_e164: the same key and condition with the
  end included, so an end-range filter on the offered part is checked on the index entries
  (10M: 250k table reads, ~136 ms, to find that no available number has an end). Same
  entries and size (an available number's end is null).

Each new index is built before the one it replaces is dropped, CONCURRENTLY on PostgreSQL
(see 0016; the number table stays writable), so the migration is not atomic.
"""

from importlib import import_module

from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations, models

AddIndexConcurrentlyOnPostgres = import_module(
    "inventory.migrations.0016_partner_scope_indexes").AddIndexConcurrentlyOnPostgres


class RemoveIndexConcurrentlyOnPostgres(RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL, a plain DROP INDEX elsewhere (SQLite tests)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.RemoveIndex.database_forwards(self, app_label, schema_editor, from_state,
                                                     to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.RemoveIndex.database_backwards(self, app_label, schema_editor, from_state,
                                                      to_state)


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
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["id"],
                               include=["e164", "organization", "visible_to", "state", "is_ported_in"],
                               condition=models.Q(is_golden=True), name="number_golden_scope"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="phonenumber", name="number_golden"),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["visible_to", "e164"], include=["organization", "expires_at"],
                               condition=models.Q(state="available"), name="number_offered_e164_end"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="phonenumber", name="number_offered_e164"),
    ]
