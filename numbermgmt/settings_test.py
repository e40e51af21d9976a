"""Test settings: the production file with a fixed key and fast, local side effects.

The database comes from DATABASE_URL (PostgreSQL in CI); without it, SQLite.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

from numbermgmt.settings import *  # noqa: E402,F403
from numbermgmt.settings import DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": ""}  # in-memory

DATABASES["default"]["CONN_MAX_AGE"] = 0
# The progress alias is the same test database, never a second one.
DATABASES["progress"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
CELERY_BROKER_URL = os.environ.get("TEST_BROKER_URL", "memory://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
ALLOWED_HOSTS = ["*"]
# No worker runs beside most tests: /healthz checks heartbeats only where a test turns it on.
HEALTHZ_CHECK_HEARTBEATS = False
# 2FA: off for staff, and for the suite's force_login superusers; tests/hardening turn it on.
STAFF_2FA_REQUIRED = False
SUPERUSER_2FA_REQUIRED = False
