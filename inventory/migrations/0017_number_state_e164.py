"""The admin's state tabs at 10M numbers: (state, number), so that a tab's page (ORDER BY e164,
state = …) is one index range, wherever that state's numbers sit in the number range.

Walking the number index and filtering on the state read 1M rows before the first locked
number of the 10M bench set (its first million are a partner's, none locked): ~800 ms a page.
Built CONCURRENTLY on PostgreSQL (see 0016), so the migration is not atomic.
"""

from importlib import import_module

from django.db import migrations, models

# 0016's operation: CONCURRENTLY on PostgreSQL, a plain CREATE INDEX elsewhere.
AddIndexConcurrentlyOnPostgres = import_module(
    "inventory.migrations.0016_partner_scope_indexes").AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inventory", "0016_partner_scope_indexes"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="phonenumber",
            index=models.Index(fields=["state", "e164"], name="number_state_e164"),
        ),
    ]
