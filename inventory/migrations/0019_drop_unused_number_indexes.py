"""Drop two indexes of inventory_phonenumber that no query uses: every index costs each
number write (a sweep, an import, an add) an entry, and state is indexed, so no update is HOT.

- number_state_id (state, id): 647 MB at 10M numbers, 0 scans in every bench (the state tabs
  read number_state_e164, the sweep number_state_expires, allocation number_allocatable);
- the organization foreign key's own index: number_org_e164 and number_holder_state_end
  lead with organization, which also serves the PROTECT check when an organization is deleted.
Dropping an index is quick (no table rewrite); it takes a short ACCESS EXCLUSIVE lock.
"""

import django.db.models.deletion
from django.db import migrations, models

ORG_INDEX = "inventory_phonenumber_organization_id_aa2e6c2c"


def _drop_org_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {ORG_INDEX}")


def _create_org_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {ORG_INDEX} "
                              "ON inventory_phonenumber (organization_id)")


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0018_number_holder_state_expires'),
        ('subscriptions', '0005_history_id_bigint'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='phonenumber',
            name='number_state_id',
        ),
        # The foreign key's index by name on PostgreSQL only: on SQLite an AlterField remakes
        # the table with every index of the model's state, and SQLite cannot build the
        # NULLS FIRST one (number_offered_waiting, PostgreSQL-only since 0016).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='phonenumber',
                    name='organization',
                    field=models.ForeignKey(blank=True, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='numbers', to='subscriptions.organization'),
                ),
            ],
            database_operations=[
                migrations.RunPython(_drop_org_index, _create_org_index),
            ],
        ),
    ]
