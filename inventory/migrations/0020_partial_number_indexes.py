"""Make the number table's indexes partial where most rows have nothing to index, so a write
of a free number (an import's new rows, a sweep's released ones, an add) skips them:

- number_state_end: (state, end) of numbers that have an end (the sweep's due read, the
  "ending" counts); replaces number_state_expires;
- number_holder_e164: (holder, number) of held numbers (the partner scope's first part, the
  PROTECT check of an organization); replaces number_org_e164;
- number_offers_e164 / number_offers_waiting: the available numbers offered to a partner
  (visible_to set) — an available number offered to nobody is in no partner's scope;
  replace number_offered_e164_end / number_offered_waiting;
- number_kept_for: numbers kept for a user (reserved_for set); replaces number_reserved_for;
- number_subscription / number_visible_to: the foreign keys' own indexes, for rows that have
  one (a query names a subscription or a partner, which implies it is set);
And two of inventory_reservation, whose rows a sweep closes by the million (a closed
reservation is in neither):
- reservation_active_end: the ends of active reservations (the notices' lead-time read);
  replaces reservation_status_ends;
- reservation_charged_status: charged reservations by DID reservation subscription; replaces
  reservation_did_status and the foreign key's own index.

Each new index is built before the one it replaces is dropped, CONCURRENTLY on PostgreSQL
(the table stays writable; minutes at 10M rows), so this migration is not atomic.
"""

from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F, Q

AddIndexConcurrentlyOnPostgres = import_module(
    "inventory.migrations.0016_partner_scope_indexes").AddIndexConcurrentlyOnPostgres
RemoveIndexConcurrentlyOnPostgres = import_module(
    "inventory.migrations.0018_number_holder_state_expires").RemoveIndexConcurrentlyOnPostgres

OFFERED = Q(state="available", visible_to__isnull=False)
FK_INDEXES = {  # the foreign keys' own indexes, by the names Django gave them
    "subscription": "inventory_phonenumber_subscription_id_3db06ece",
    "visible_to": "inventory_phonenumber_visible_to_id_2e86a66d",
}
DID_INDEX = "inventory_reservation_did_reservation_id_2d13a2f9"


class RunSQLOnPostgres(migrations.RunSQL):
    """Raw DDL on PostgreSQL only (a trigram index, an index that only exists there); not a
    RunPython, so the tests' restore of the migrated rows does not run it again."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inventory", "0019_drop_unused_number_indexes"),
        ("subscriptions", "0005_history_id_bigint"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["state", "expires_at"], condition=Q(expires_at__isnull=False),
                               name="number_state_end"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="phonenumber", name="number_state_expires"),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["organization", "e164"], include=["state", "expires_at"],
                               condition=Q(organization__isnull=False), name="number_holder_e164"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="phonenumber", name="number_org_e164"),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["visible_to", "e164"], include=["organization", "expires_at"],
                               condition=OFFERED, name="number_offers_e164"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="phonenumber", name="number_offered_e164_end"),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(F("visible_to"), F("state_changed_at").asc(nulls_first=True),
                               F("created_at"), F("id"), condition=OFFERED,
                               name="number_offers_waiting"),
            postgresql_only=True,
        ),
        # number_offered_waiting was built on PostgreSQL only (0016): dropped there only.
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="phonenumber",
                                                     name="number_offered_waiting")],
            database_operations=[RunSQLOnPostgres(
                "DROP INDEX CONCURRENTLY IF EXISTS number_offered_waiting",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS number_offered_waiting ON "
                "inventory_phonenumber (visible_to_id, state_changed_at NULLS FIRST, created_at, "
                "id) WHERE state = 'available'")],
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["reserved_for"], condition=~Q(reserved_for=""),
                               name="number_kept_for"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="phonenumber", name="number_reserved_for"),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["subscription"], condition=Q(subscription__isnull=False),
                               name="number_subscription"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["visible_to"], condition=Q(visible_to__isnull=False),
                               name="number_visible_to"),
        ),
        # The foreign keys' own indexes by name on PostgreSQL only: on SQLite an AlterField
        # remakes the table with every index of the state, and SQLite cannot build the NULLS
        # FIRST one (see 0019).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="phonenumber", name="subscription",
                    field=models.ForeignKey(blank=True, db_index=False, editable=False, null=True,
                                            on_delete=django.db.models.deletion.PROTECT,
                                            related_name="numbers", to="subscriptions.subscription"),
                ),
                migrations.AlterField(
                    model_name="phonenumber", name="visible_to",
                    field=models.ForeignKey(blank=True, db_index=False,
                                            help_text="A partner that may see this number while it is available.",
                                            limit_choices_to={"kind": "partner"}, null=True,
                                            on_delete=django.db.models.deletion.SET_NULL,
                                            related_name="visible_numbers",
                                            to="subscriptions.organization"),
                ),
            ],
            database_operations=[RunSQLOnPostgres(
                [f"DROP INDEX CONCURRENTLY IF EXISTS {name}" for name in FK_INDEXES.values()],
                [f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON inventory_phonenumber "
                 f"({field}_id)" for field, name in FK_INDEXES.items()])],
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="reservation",
            index=models.Index(fields=["ends_at"], condition=Q(status="active"),
                               name="reservation_active_end"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="reservation", name="reservation_status_ends"),
        AddIndexConcurrentlyOnPostgres(
            model_name="reservation",
            index=models.Index(fields=["did_reservation", "status"],
                               condition=Q(did_reservation__isnull=False),
                               name="reservation_charged_status"),
        ),
        RemoveIndexConcurrentlyOnPostgres(model_name="reservation", name="reservation_did_status"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="reservation", name="did_reservation",
                    field=models.ForeignKey(blank=True, db_index=False, null=True,
                                            on_delete=django.db.models.deletion.PROTECT,
                                            related_name="charged_reservations",
                                            to="subscriptions.subscription"),
                ),
            ],
            database_operations=[RunSQLOnPostgres(
                f"DROP INDEX CONCURRENTLY IF EXISTS {DID_INDEX}",
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {DID_INDEX} ON inventory_reservation "
                "(did_reservation_id)")],
        ),
    ]
