"""Logins: throttling with a cool-off (django-axes), the audit ops can read, two-factor for
staff (django-otp, a real TOTP computed here), idle staff sessions, and no open redirect."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from ops.middleware import LAST_SEEN_KEY

pytestmark = pytest.mark.django_db
PASSWORD = "ops-password"  # tests/conftest.py ops_user


def attempt(client: Client, url: str, username: str, password: str, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


@pytest.mark.parametrize("url", ["/admin/login/", "/accounts/login/"])
def test_five_failures_lock_username_and_ip_until_the_cool_off_ends(client, ops_user, settings, url):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    for _ in range(4):
        assert attempt(client, url, "ops", "wrong").status_code == 200  # the form again
    locked = attempt(client, url, "ops", "wrong")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    # now even the right password is refused, from this address …
    assert attempt(client, url, "ops", PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # … but not from another address, nor another username from this one (username + IP)
    assert attempt(Client(), url, "ops", PASSWORD, REMOTE_ADDR="10.9.9.9").status_code == 302
    assert attempt(Client(), url, "someone", "wrong").status_code == 200

    # the cool-off passes (the attempt is dated 15 minutes and a second ago): it is let in
    AccessAttempt.objects.update(attempt_time=time_ago(minutes=15, seconds=1))
    response = attempt(client, url, "ops", PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(ops_user.pk)


def time_ago(**delta) -> dt.datetime:
    from django.utils import timezone

    return timezone.now() - dt.timedelta(**delta)


def test_a_lock_is_never_permanent(client, ops_user):
    for _ in range(30):
        attempt(client, "/admin/login/", "ops", "wrong")
    assert attempt(client, "/admin/login/", "ops", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=time_ago(minutes=16))
    assert attempt(client, "/admin/login/", "ops", PASSWORD).status_code == 302


def test_failed_and_successful_logins_are_in_an_audit_ops_can_read(client, ops_user, admin_user):
    attempt(client, "/admin/login/", "ops", "wrong", HTTP_USER_AGENT="guesser/1.0")
    attempt(client, "/admin/login/", "ops", PASSWORD)
    failure = AccessFailureLog.objects.get()
    assert (failure.username, failure.ip_address, failure.user_agent) == ("ops", "127.0.0.1",
                                                                          "guesser/1.0")
    assert AccessLog.objects.filter(username="ops").exists()  # the successful one
    reader = Client()
    reader.force_login(admin_user)
    failures = reader.get("/admin/axes/accessfailurelog/")
    assert failures.status_code == 200 and "guesser/1.0" in failures.content.decode()
    logins = reader.get("/admin/axes/accesslog/")
    assert logins.status_code == 200 and ">ops<" in logins.content.decode()
    assert reader.get("/admin/axes/accesslog/add/").status_code == 403


# --- two-factor ------------------------------------------------------------------------


def secret_from(page: str) -> bytes:
    match = re.search(r'id="totp-secret">([A-Z2-7=]+)<', page)
    assert match, "the set-up page shows the key"
    return base64.b32decode(match.group(1))


def code(key: bytes, *, drift: int = 0) -> str:
    return f"{totp(key, drift=drift):06d}"


def past_throttle() -> None:
    """django-otp refuses any code for a while after a wrong one (1 s, doubling): that while
    is over (the failure is dated a minute ago, instead of sleeping)."""
    for model in (TOTPDevice, StaticDevice):
        model.objects.exclude(throttling_failure_timestamp=None).update(
            throttling_failure_timestamp=time_ago(minutes=1))


@pytest.fixture
def superuser_2fa(settings):
    settings.SUPERUSER_2FA_REQUIRED = True


def test_a_superuser_sets_up_totp_and_gets_recovery_codes_once(client, admin_user, superuser_2fa):
    client.force_login(admin_user)
    response = client.get("/admin/inventory/phonenumber/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/?next=%2Fadmin%2Finventory%2Fphonenumber%2F"
    setup = client.get(response["Location"], follow=True)
    page = setup.content.decode()
    assert setup.redirect_chain[-1][0].startswith("/accounts/2fa/setup/")
    assert "<svg" in page and "otpauth://totp/" in page  # a QR drawn here and the link
    key = secret_from(page)
    assert secret_from(client.get("/accounts/2fa/setup/").content.decode()) == key  # stable

    wrong = client.post("/accounts/2fa/setup/", {"token": "000000" if code(key) != "000000" else "111111"})
    assert "not right" in wrong.content.decode()
    past_throttle()
    done = client.post("/accounts/2fa/setup/", {"token": code(key),
                                               "next": "/admin/inventory/phonenumber/"})
    codes = re.findall(r"<li><code>(\w+)</code></li>", done.content.decode())
    assert len(codes) == 10 and "shown only now" in done.content.decode()
    assert client.get("/admin/inventory/phonenumber/").status_code == 200
    # the codes are not shown again: the set-up page of a verified user shows a new device
    assert not set(codes) & set(re.findall(r"\w{8}", client.get("/accounts/2fa/setup/").content.decode()))


def configured_superuser(client: Client, user) -> tuple[bytes, list[str]]:
    client.force_login(user)
    key = secret_from(client.get("/accounts/2fa/setup/").content.decode())
    done = client.post("/accounts/2fa/setup/", {"token": code(key)})
    return key, re.findall(r"<li><code>(\w+)</code></li>", done.content.decode())


def test_a_new_session_needs_a_code_and_a_recovery_code_works_once(admin_user, superuser_2fa):
    key, codes = configured_superuser(Client(), admin_user)
    browser = Client()
    browser.force_login(admin_user)
    assert browser.get("/admin/").status_code == 302
    verify = browser.get("/accounts/2fa/?next=/admin/", follow=True)
    assert verify.redirect_chain[-1][0].startswith("/accounts/2fa/verify/")
    # a set-up cannot be replaced without verifying first
    assert browser.get("/accounts/2fa/setup/")["Location"].startswith("/accounts/2fa/verify/")
    assert "not right" in browser.post("/accounts/2fa/verify/", {"token": "12345"}).content.decode()
    past_throttle()
    ok = browser.post("/accounts/2fa/verify/", {"token": code(key, drift=1), "next": "/admin/"})
    assert ok.status_code == 302 and ok["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200

    other = Client()
    other.force_login(admin_user)
    assert other.post("/accounts/2fa/verify/", {"token": codes[0]}).status_code == 302
    assert other.get("/admin/").status_code == 200
    third = Client()
    third.force_login(admin_user)
    reused = third.post("/accounts/2fa/verify/", {"token": codes[0]})
    assert reused.status_code == 200 and "not right" in reused.content.decode()


def test_staff_need_2fa_only_when_staff_2fa_required(client, ops_user, settings):
    settings.STAFF_2FA_REQUIRED = False
    client.force_login(ops_user)
    assert client.get("/admin/inventory/phonenumber/").status_code == 200
    settings.STAFF_2FA_REQUIRED = True
    assert client.get("/admin/inventory/phonenumber/")["Location"].startswith("/accounts/2fa/")
    # logging out stays possible
    assert client.post("/accounts/logout/").status_code == 302


def test_the_production_default_requires_2fa_for_staff():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "STAFF_2FA_REQUIRED"}
    env.update({"DJANGO_SETTINGS_MODULE": "numbermgmt.settings", "SECRET_KEY": "x" * 50})
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.STAFF_2FA_REQUIRED, settings.SUPERUSER_2FA_REQUIRED)"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.stdout.split() == ["True", "True"], out.stderr


def test_the_2fa_page_does_not_redirect_to_another_site(admin_user, superuser_2fa):
    _, codes = configured_superuser(Client(), admin_user)
    for target, recovery in zip(["https://evil.example/", "//evil.example/x", "/\\evil.example"],
                                codes, strict=False):
        browser = Client()
        browser.force_login(admin_user)
        response = browser.post("/accounts/2fa/verify/", {"token": recovery, "next": target})
        assert response.status_code == 302 and response["Location"] == "/admin/", target


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "http:/evil.example"])
def test_login_never_redirects_to_another_site(client, ops_user, url, target):
    response = client.post(f"{url}?next={target}", {"username": "ops", "password": PASSWORD,
                                                    "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/partner/"  # LOGIN_REDIRECT_URL, not the given target


def test_an_idle_staff_session_ends(client, ops_user, settings):
    settings.SESSION_IDLE_SECONDS = 600
    client.force_login(ops_user)
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - 599  # active a moment inside the limit
    session.save()
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - 601  # idle past the limit
    session.save()
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert "_auth_user_id" not in client.session
