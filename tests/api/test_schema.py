"""The schema: OpenAPI 3.1, stable operation ids, every error documented with an example, and
docs served from our own static files."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

OPERATIONS = {
    "numbers_list", "numbers_retrieve", "numbers_update", "numbers_add", "numbers_reserve",
    "numbers_lock", "numbers_unlock", "numbers_assign", "numbers_release", "numbers_extend",
    "numbers_delete", "numbers_recover", "numbers_set_reserved_for", "numbers_next_available",
    "numbers_export", "summary_retrieve", "organizations_list", "organizations_create",
    "organizations_retrieve", "organizations_update", "subscriptions_list", "subscriptions_create",
    "subscriptions_retrieve", "subscriptions_status", "subscriptions_renew", "subscriptions_swap",
    "imports_create", "imports_retrieve", "imports_errors", "imports_confirm", "events_list",
    "webhook_endpoints_list", "webhook_endpoints_create", "webhook_endpoints_retrieve",
    "webhook_endpoints_update", "webhook_endpoints_rotate_secret", "webhook_endpoints_replay",
}


@pytest.fixture
def schema(anonymous):
    response = anonymous.get("/schema/")
    assert response.status_code == 200 and "json" in response["Content-Type"]
    return response.json()


def test_schema_is_openapi_31_with_stable_operation_ids(schema):
    assert schema["openapi"] == "3.1.0"
    ops = {op["operationId"]: (path, method) for path, item in schema["paths"].items()
           for method, op in item.items()}
    assert set(ops) == OPERATIONS
    assert ops["numbers_reserve"] == ("/api/v1/numbers/actions/reserve/", "post")
    assert ops["events_list"] == ("/api/v1/events/", "get")
    assert ops["webhook_endpoints_rotate_secret"] == (
        "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret/", "post")
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_operation_documents_its_errors_with_examples(schema):
    for item in schema["paths"].values():
        for method, op in item.items():
            responses = op["responses"]
            for code in ("401", "403", "429"):
                assert code in responses, (op["operationId"], code)
                body = responses[code]["content"]["application/problem+json"]
                assert body["examples"], (op["operationId"], code)
            assert "Retry-After" in responses["429"]["headers"]
            if method in ("post", "patch"):
                assert {"400", "409", "422"} <= set(responses), op["operationId"]
                assert any(p["name"] == "Idempotency-Key" for p in op["parameters"])
            success = next(r for c, r in responses.items() if c.startswith("2"))
            assert all("examples" in c for c in success.get("content", {}).values()), op["operationId"]


def test_list_parameters_are_the_filterset_and_the_cursor(schema):
    names = {p["name"] for p in schema["paths"]["/api/v1/numbers/"]["get"]["parameters"]}
    assert {"number", "state", "sku", "vendor", "country", "capability", "routing", "golden",
            "ported_in", "visible_to", "subscription", "owner", "reserved_for", "tags", "cursor",
            "limit", "fields"} <= names


def test_docs_page_uses_our_static_files(anonymous):
    page = anonymous.client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in s for s in sources)
    assert all(s.startswith("/") for s in sources), sources  # no CDN
