"""schemathesis (a client no one here wrote) against the live schema: no 5xx, and every answer
conforms to the schema, with an ops key and with a partner key."""

from __future__ import annotations

import time

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.keys import api_key_create
from events.services import webhook_endpoint_create
from inventory.services import number_release, number_reserve
from tests.api.test_events import change

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
EXAMPLES = {"ops": 8, "partner": 4}


@pytest.fixture
def wsgi_app():
    """The project's WSGI application in this thread, inside the test's transaction (as
    Django's test client does, the per-request connection recycling is held off)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("kind", ["ops", "partner"])
def test_schemathesis_finds_no_server_error_and_no_schema_drift(kind, wsgi_app, settings, make_numbers,
                                                                customer, partner, service):
    settings.API_RATE_LIMIT = "0"
    make_numbers(20)
    # Events in the feed (a partner's among them) and an endpoint to list.
    change("number.reserved", number_reserve, ["+6560000001", "+6560000002"], organization=customer,
           actor=None, remark="seed")
    change("number.released", number_release, ["+6560000002"], actor=None, remark="seed")
    settings.WEBHOOK_ALLOW_PRIVATE = True
    webhook_endpoint_create(url="http://127.0.0.1:9/hooks", actor=None, event_types=["number.reserved"])
    settings.WEBHOOK_ALLOW_PRIVATE = False
    _, secret = (api_key_create(name="fuzz-ops", group="Ops") if kind == "ops"
                 else api_key_create(name="fuzz-partner", partner=partner))
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", wsgi_app)
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 37

    for operation in operations:
        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES[kind], deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance])

        fuzz()
    assert time.monotonic() - started < 90
