"""Every id that grows with history or events is 64-bit in the migrated database.

simple-history's `history_id` is a 32-bit AutoField unless a model says otherwise
(DEFAULT_AUTO_FIELD does not reach it): 2.1 billion history rows, which a carrier's bulk
sweeps reach. A model that forgets `history_id_field=models.BigAutoField(...)` fails here.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

OUR_APPS = {"inventory", "subscriptions", "events", "notifications", "api", "audit", "ops", "partners"}
# The growing tables named in the design: events, webhook deliveries and their attempts.
EVENT_COLUMNS = {
    ("events_event", "id"),
    ("events_eventorganization", "id"),
    ("events_eventorganization", "event_id"),
    ("events_webhookdelivery", "id"),
    ("events_webhookdelivery", "event_id"),
    ("events_deliveryattempt", "id"),
    ("events_deliveryattempt", "delivery_id"),
}


def _column_types() -> dict[tuple[str, str], str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
        )
        return {(table, column): data_type for table, column, data_type in cursor.fetchall()}


def _our_models() -> list[type[models.Model]]:
    return [
        m for m in apps.get_models()
        if m._meta.app_label in OUR_APPS and m._meta.managed and not m._meta.proxy
    ]


def test_history_ids_and_event_ids_are_bigint():
    types = _column_types()
    historical = [m for m in _our_models() if hasattr(m, "instance_type")]  # simple-history's models
    assert historical, "no historical model found"
    expected = {(m._meta.db_table, "history_id") for m in historical} | EVENT_COLUMNS
    # Every auto primary key of our tables, and every foreign key to one of them, grows too.
    for model in _our_models():
        if isinstance(model._meta.pk, models.AutoField):
            expected.add((model._meta.db_table, model._meta.pk.column))
        for field in model._meta.concrete_fields:
            target = field.related_model if field.is_relation else None
            if target is not None and target._meta.app_label in OUR_APPS and isinstance(
                target._meta.pk, models.AutoField
            ):
                expected.add((model._meta.db_table, field.column))
    wrong = {key: types.get(key) for key in sorted(expected) if types.get(key) != "bigint"}
    assert wrong == {}
