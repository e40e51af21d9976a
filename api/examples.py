"""Examples for the schema: one per request and response body (errors: api/schema.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

ORG = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
PARTNER = "9a2b6b4e-5d1c-4c47-8a8e-2f0f4f3b8c11"
SUB = "6fa459ea-ee8a-3ca4-894e-db77e160355e"

NUMBER = {
    "e164": "+6560000001", "country": "SG", "state": "reserved",
    "state_changed_at": "2026-01-05T08:00:00Z", "expires_at": "2026-02-02T08:00:00Z",
    "vendor": "Singtel Wholesale", "sku": "SG-DID-STD", "voice": True, "sms": False, "fax": False,
    "routing": "sip:trunk-1", "is_golden": False, "is_ported_in": False, "visible_to": None,
    "organization": ORG, "subscription": None, "reserved_for": "", "tags": ["vip"], "notes": "",
    "delete_reason": "", "updated_at": "2026-01-05T08:00:00Z",
}
NUMBER_DETAIL = {**NUMBER, "reservation": {
    "kind": "manual", "status": "active", "organization": ORG, "starts_at": "2026-01-05T08:00:00Z",
    "ends_at": "2026-02-02T08:00:00Z", "did_reservation": None, "reserved_for": ""}}
ORGANIZATION = {"uuid": ORG, "name": "Beta Pte Ltd", "kind": "customer", "parent": PARTNER,
                "billing_email": "billing@beta.example", "owner_email": "", "support_email": "",
                "domain": "", "created_at": "2026-01-01T00:00:00Z"}
SUBSCRIPTION = {"uuid": SUB, "organization": ORG, "kind": "service", "plan": "Business DID",
                "status": "active", "current_period_end": "2026-02-01T00:00:00Z",
                "number_allowance": 5, "subscriber": "alice", "created_at": "2026-01-01T00:00:00Z"}
JOB = {"id": "0b6f3c1e-7f0a-4a55-9f3e-0c0ad5e5b0b1", "original_name": "numbers.csv",
       "status": "previewed", "phase": "preview", "all_or_nothing": True,
       "country": "SG", "total_rows": 1200, "processed_rows": 1200, "progress": 100,
       "counts": {"new": 1190, "changed": 0, "unchanged": 5, "refused": 5},
       "message": "1,190 new, 5 unchanged, 5 refused", "created_at": "2026-01-05T08:00:00Z",
       "confirmed_at": None, "finished_at": None}
EVENT = {"id": 4711, "type": "number.reserved", "timestamp": "2026-01-05T08:00:00.123456+00:00",
         "actor": "api:provisioning", "remark": "order 4711",
         "data": {"count": 1, "numbers": [{
             "e164": "+6560000001",
             "before": {"state": "available", "organization": None, "subscription": None,
                        "expires_at": None, "reserved_for": "", "visible_to": None},
             "after": {"state": "reserved", "organization": ORG, "subscription": None,
                       "expires_at": "2026-02-02T08:00:00+00:00", "reserved_for": "",
                       "visible_to": None}}]}}
EVENT_FOR_PARTNER = {key: value for key, value in EVENT.items() if key not in ("actor", "remark")}
EVENTS_NEXT = "https://numbermgmt.example/api/v1/events/?after=4711&limit=100"
WEBHOOK_ENDPOINT = {"id": 7, "url": "https://billing.example/hooks/numbers", "description": "billing",
                    "event_types": ["number.reserved", "number.released"], "active": True,
                    "disabled_reason": "", "partner": None, "previous_secret_valid_until": None,
                    "created_at": "2026-01-05T08:00:00Z", "updated_at": "2026-01-05T08:00:00Z"}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CSV = "number,country,vendor,sku,state\n+6560000001,SG,Singtel Wholesale,SG-DID-STD,reserved\n"


def response(name: str, value, status: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


def request(name: str, value) -> OpenApiExample:
    return OpenApiExample(name, value=value, request_only=True)
