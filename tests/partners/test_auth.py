"""Sign-in pages (Django's auth views with the dashboard's templates) and the access command."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command

from subscriptions.models import PartnerMembership
from tests.partners.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_lands_on_the_dashboard(world, client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b"partner/dashboard.css" in page.content and b"Sign in" in page.content
    response = client.post("/accounts/login/", {"username": world.user.username,
                                                "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/partner/"
    assert client.get("/partner/").status_code == 200


def test_wrong_password_says_so(world, client):
    response = client.post("/accounts/login/", {"username": world.user.username, "password": "no"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_login_then_back_to_the_page_asked_for(world, client):
    response = client.post("/accounts/login/?next=/partner/numbers/",
                           {"username": world.user.username, "password": PASSWORD,
                            "next": "/partner/numbers/"})
    assert response["Location"] == "/partner/numbers/"


def test_logout_is_a_post_and_ends_the_session(world, client_for):
    client = client_for(world.user)
    assert b'action="/accounts/logout/"' in client.get("/partner/").content
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/partner/").status_code == 302


def test_password_change_and_reset_pages_use_the_dashboard_look(world, client_for, client):
    page = client_for(world.user).get("/accounts/password_change/")
    assert page.status_code == 200 and b"partner/dashboard.css" in page.content
    client.logout()
    reset = client.get("/accounts/password_reset/")
    assert reset.status_code == 200 and b"partner/dashboard.css" in reset.content
    done = client.post("/accounts/password_reset/", {"email": world.user.email}, follow=True)
    assert b"Check your email" in done.content
    assert len(mail.outbox) == 1 and world.user.email in mail.outbox[0].to


def test_add_partner_user_command(world):
    out = io.StringIO()
    call_command("add_partner_user", "newbie", "--partner", str(world.partner.uuid),
                 "--email", "n@acme.example", stdout=out)
    user = get_user_model().objects.get(username="newbie")
    assert not user.is_staff and user.partner_membership.organization == world.partner
    assert "generated password" in out.getvalue()
    password = out.getvalue().rsplit(": ", 1)[1].strip()
    assert user.check_password(password)
    # By domain, moving the link; no new password for an existing user.
    out = io.StringIO()
    call_command("add_partner_user", "newbie", "--partner", "other.example", stdout=out)
    assert PartnerMembership.objects.get(user=user).organization == world.other_partner
    assert "password" not in out.getvalue()


def test_add_partner_user_refuses_staff_and_unknown_partners(world, ops_user):
    with pytest.raises(CommandError, match="staff"):
        call_command("add_partner_user", ops_user.username, "--partner", str(world.partner.uuid))
    with pytest.raises(CommandError, match="No partner organization"):
        call_command("add_partner_user", "x", "--partner", "nowhere.example")
    with pytest.raises(CommandError, match="No partner organization"):  # a customer is not one
        call_command("add_partner_user", "x", "--partner", str(world.customer.uuid))
    assert not get_user_model().objects.filter(username="x").exists()
