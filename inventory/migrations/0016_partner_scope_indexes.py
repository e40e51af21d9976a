"""Indexes for the partner dashboard's scope at 10M numbers (a partner holding 1M).

The scope is "held by one of the partner's organizations, or available and offered to it".
Each part gets an index that walks it in number order (the table's pages, without sorting
the partner's whole share) and answers the summary's counts by an index-only scan:
- number_org_e164: (organization, number) with the state and end included;
- number_offered_e164: the available numbers offered to a partner, by number, with the
  holder included (the scope's second part excludes the first part's holders);
- number_offered_waiting: the same numbers longest-waiting first (the summary's list).

On PostgreSQL they are built CONCURRENTLY (the number table stays writable while they
build: minutes at 10M rows), so this migration is not atomic; elsewhere a plain CREATE INDEX.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import F


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere (SQLite tests),
    or nothing elsewhere when `postgresql_only` (SQLite has no NULLS FIRST in an index)."""

    def __init__(self, model_name, index, postgresql_only=False):
        super().__init__(model_name, index)
        self.postgresql_only = postgresql_only

    def deconstruct(self):
        name, args, kwargs = super().deconstruct()
        if self.postgresql_only:
            kwargs["postgresql_only"] = True
        return name, args, kwargs

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        elif not self.postgresql_only:
            migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        elif not self.postgresql_only:
            migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inventory", "0015_history_id_bigint"),
        ("subscriptions", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["organization", "e164"], include=["state", "expires_at"],
                               name="number_org_e164"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["visible_to", "e164"], include=["organization"],
                               condition=models.Q(state="available"), name="number_offered_e164"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(F("visible_to"), F("state_changed_at").asc(nulls_first=True),
                               F("created_at"), F("id"), condition=models.Q(state="available"),
                               name="number_offered_waiting"),
            postgresql_only=True,
        ),
    ]
