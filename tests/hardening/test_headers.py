"""Security headers, `check --deploy`, error pages that leak nothing, and the proxy header
trusted only when a setting says a proxy sets it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "SECURE_SSL_REDIRECT", "ALLOWED_HOSTS",
                        "DJANGO_ALLOW_ASYNC_UNSAFE"}}  # the browser tests set it
    env.update({"DJANGO_SETTINGS_MODULE": "numbermgmt.settings", "ALLOWED_HOSTS": "numbers.example",
                "SECRET_KEY": "k" * 20 + "-production-like-secret-key-0123456789abcdef"}, **extra)
    return env


def test_check_deploy_is_clean():
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_pages_carry_the_security_headers(client, ops_user):
    client.force_login(ops_user)
    response = client.get("/admin/inventory/phonenumber/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert "geolocation=()" in response["Permissions-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_cookies_are_secure_in_production():
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=production_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True"] * 5, out.stderr


@pytest.mark.parametrize("trust, expected", [("0", "None"), ("1", "('HTTP_X_FORWARDED_PROTO', 'https')")])
def test_the_forwarded_proto_header_is_trusted_only_when_configured(trust, expected):
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(getattr(s, 'SECURE_PROXY_SSL_HEADER', None))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                         env=production_env(TRUST_PROXY_SSL_HEADER=trust), capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == expected, out.stderr


def test_a_client_cannot_claim_https_without_a_trusted_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = None
    response = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301 and response["Location"].startswith("https://")


def test_404_and_500_pages_show_nothing_internal(client, settings, ops_user):
    """With DEBUG=0 (the test settings are the production file)."""
    assert settings.DEBUG is False
    missing = client.get("/no-such-page/<script>alert(1)</script>")
    assert missing.status_code == 404
    assert "Not found" in missing.content.decode()
    for leak in ("urlpatterns", "Traceback", "<script>", "numbermgmt.urls"):
        assert leak not in missing.content.decode()
    # a 500: an unexpected error inside a view (the database refuses a statement)
    from django.db import connection

    def refuse(execute, sql, params, many, context):
        if "inventory_phonenumber" in sql:
            raise RuntimeError("secret internal detail /work/wt-hard")
        return execute(sql, params, many, context)

    broken = Client(raise_request_exception=False)
    broken.force_login(ops_user)
    with connection.execute_wrapper(refuse):
        response = broken.get("/admin/inventory/phonenumber/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    for leak in ("secret internal detail", "RuntimeError", "Traceback", "/work/"):
        assert leak not in page
