"""The pull feed in commit order (issue #11): each event carries the id of the transaction that
wrote it, `txid`, and each EventOrganization row its event's.

Event ids come from a sequence at INSERT time, not at commit: transaction T1 can take id 50,
T2 id 51 and commit first, and a reader paging by id steps past 50 for good. The feed now pages
by (txid, id) and only shows transactions older than every one still running
(events.selectors), so nothing can appear behind a page once it has been read.

PostgreSQL: `txid` is `pg_current_xact_id()` (xid8, 64 bits: it never wraps), set by a BEFORE
INSERT trigger whatever the insert path (the events insert, the ORM, a bench script, psql), and
kept as it was by an update (an event does not move in the feed). EventOrganization's trigger
copies its event's txid. The columns are added with DEFAULT 0 and the default dropped at once:
existing rows read 0 (PostgreSQL keeps that value in the catalogue, no table rewrite), i.e.
before every later event, in id order among themselves, as the feed always gave them; their
transactions have all ended. SQLite: plain nullable columns, left NULL (one writer at a time:
id order is commit order there). The indexes follow in 0005 (CONCURRENTLY).
"""

from django.db import migrations, models

TXID = "pg_current_xact_id()::text::bigint"

TRIGGERS = f"""
CREATE OR REPLACE FUNCTION events_event_txid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.txid := OLD.txid;
    ELSE
        NEW.txid := {TXID};
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER events_event_txid BEFORE INSERT OR UPDATE OF txid ON events_event
    FOR EACH ROW EXECUTE FUNCTION events_event_txid();

CREATE OR REPLACE FUNCTION events_eventorganization_txid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The event's own txid; an event not inserted yet (the foreign key is deferred) will be
    -- inserted by this transaction, or the commit fails.
    NEW.txid := coalesce((SELECT e.txid FROM events_event e WHERE e.id = NEW.event_id), {TXID});
    RETURN NEW;
END
$$;
CREATE TRIGGER events_eventorganization_txid
    BEFORE INSERT OR UPDATE OF txid, event_id ON events_eventorganization
    FOR EACH ROW EXECUTE FUNCTION events_eventorganization_txid();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS events_eventorganization_txid ON events_eventorganization;
DROP FUNCTION IF EXISTS events_eventorganization_txid();
DROP TRIGGER IF EXISTS events_event_txid ON events_event;
DROP FUNCTION IF EXISTS events_event_txid();
"""


class AddTxidField(migrations.AddField):
    """PostgreSQL: ADD COLUMN with DEFAULT 0 (existing rows read 0, no rewrite), then DROP
    DEFAULT (the trigger sets every new row); elsewhere Django's AddField (NULL)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        table = schema_editor.quote_name(model._meta.db_table)
        column = schema_editor.quote_name(model._meta.get_field(self.name).column)
        schema_editor.execute(f"ALTER TABLE {table} ADD COLUMN {column} bigint NULL DEFAULT 0")
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
        return None


class RunSQLOnPostgres(migrations.RunSQL):
    """RunSQL on PostgreSQL only (SQLite needs no trigger: txid stays NULL there)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0003_history_id_bigint"),
    ]

    operations = [
        AddTxidField(
            model_name="event",
            name="txid",
            field=models.BigIntegerField(
                blank=True, editable=False, null=True,
                help_text="The writing transaction's id (PostgreSQL, set by a trigger); the feed's "
                          "order is (txid, id). Empty on SQLite."),
        ),
        AddTxidField(
            model_name="eventorganization",
            name="txid",
            field=models.BigIntegerField(
                blank=True, editable=False, null=True,
                help_text="The event's txid (PostgreSQL, set by a trigger)."),
        ),
        RunSQLOnPostgres(TRIGGERS, DROP_TRIGGERS),
    ]
