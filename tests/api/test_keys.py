"""Keys: made by the command or the admin, shown once, hashed, revocable, expiring."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from api.models import ApiKey

from .conftest import Api

pytestmark = pytest.mark.django_db


def _create(*args) -> str:
    out = io.StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_create_api_key_prints_the_key_alone_on_the_last_line_and_it_works(make_numbers):
    make_numbers(1)
    secret = _create("billing", "--group", "Ops")
    key = ApiKey.objects.get(name="billing")
    assert secret.startswith(key.prefix + ".")
    assert secret not in key.hashed_key  # hashed at rest
    assert key.user.username == "api:billing" and not key.user.is_staff
    assert not key.user.has_usable_password()
    response = Api(secret).get("/numbers/")
    assert response.status_code == 200
    assert response.json()["results"][0]["e164"] == "+6560000000"


def test_partner_key_by_domain_or_uuid(partner):
    assert _create("acme", "--partner", "acme.example")
    assert ApiKey.objects.get(name="acme").is_partner
    assert _create("acme2", "--partner", str(partner.uuid))


@pytest.mark.parametrize("args, message", [
    (["x", "--group", "Nope"], "No group named"),
    (["x", "--partner", "nowhere.example"], "No partner"),
    (["x", "--group", "Ops", "--expires", "0"], "positive"),
])
def test_create_api_key_refuses_bad_arguments(args, message, partner):
    with pytest.raises(CommandError, match=message):
        _create(*args)


def test_a_name_is_used_by_one_usable_key():
    _create("billing", "--group", "Ops")
    with pytest.raises(CommandError, match="exists already"):
        _create("billing", "--group", "Ops")


def test_revoked_key_is_refused_and_the_name_can_be_reused():
    secret = _create("billing", "--group", "Ops")
    call_command("revoke_api_key", "billing", stdout=io.StringIO())
    response = Api(secret).get("/numbers/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert 'Bearer' in response["WWW-Authenticate"]
    again = _create("billing", "--group", "Ops")
    assert Api(again).get("/numbers/").status_code == 200
    with pytest.raises(CommandError):
        call_command("revoke_api_key", "nobody", stdout=io.StringIO())


def test_expired_key_is_refused():
    secret = _create("billing", "--group", "Ops", "--expires", "1")
    assert Api(secret).get("/numbers/").status_code == 200
    ApiKey.objects.filter(name="billing").update(expiry_date=timezone.now() - dt.timedelta(seconds=1))
    response = Api(secret).get("/numbers/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize("header", [None, "Bearer nonsense.key", "Bearer ", "Basic abc", "Api-Key x.y"])
def test_no_or_wrong_key_is_401(header, anonymous):
    headers = {"Authorization": header} if header is not None else {}
    response = anonymous.client.get("/api/v1/numbers/", headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_admin_creates_a_key_shows_it_once_and_revokes(client, admin_user, partner):
    client.force_login(admin_user)
    response = client.post("/admin/api/apikey/add/", {"name": "crm", "partner": partner.pk},
                           follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    secret = next(m.split(" is: ")[1].split(" ")[0] for m in shown if " is: " in m)
    key = ApiKey.objects.get(name="crm")
    assert key.is_partner and secret.startswith(key.prefix)
    assert Api(secret).get("/numbers/").status_code == 200
    listing = client.get("/admin/api/apikey/")
    assert b"crm" in listing.content and secret.encode() not in listing.content
    client.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert Api(secret).get("/numbers/").status_code == 401


def test_admin_refuses_a_key_with_neither_group_nor_partner(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/api/apikey/add/", {"name": "crm"})
    assert response.status_code == 200 and not ApiKey.objects.exists()
    assert b"Choose a group or permissions" in response.content


def test_key_guessing_is_throttled_then_cools_off(ops, settings):
    """Refused keys from one address count; past the limit every key check from there is a
    429 with Retry-After (the right key too) until the cool-off ends; never a permanent lock."""
    from django.core.cache import cache

    settings.API_KEY_FAILURE_LIMIT, settings.API_KEY_COOLOFF_SECONDS = 3, 600
    for _ in range(3):
        assert Api("guess.wrongwrongwrong").get("/numbers/").status_code == 401
    locked = ops.get("/numbers/")
    assert locked.status_code == 429 and locked["Retry-After"] == "600"
    assert locked["Content-Type"].startswith("application/problem+json")
    cache.clear()  # the cool-off has passed (its entry expired)
    assert ops.get("/numbers/").status_code == 200
