"""Indexes for the feed in commit order (0004): `event_feed` (txid, id) walks the ops feed from
a cursor to the page's end; `event_org_feed_txid` (organization, txid, event) does the same for
one partner, so a page is one range, never a sort of all the partner's events. It replaces
`event_org_feed` (organization, event), which it also stands in for on an organization's
deletion (it leads with the organization). Built CONCURRENTLY on PostgreSQL (the tables stay
writable), so the migration is not atomic; elsewhere plain CREATE/DROP INDEX.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrentlyOnPostgres(RemoveIndexConcurrently):
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
        ("events", "0004_event_txid"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="event",
            index=models.Index(fields=["txid", "id"], name="event_feed"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="eventorganization",
            index=models.Index(fields=["organization", "txid", "event"], name="event_org_feed_txid"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="eventorganization", name="event_org_feed"),
    ]
