"""One settings file, driven by the environment (see README "Configuration")."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import csp.constants
import dj_database_url

from numbermgmt.words import parse_yes_no

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return parse_yes_no(value) is True


DEBUG = env_bool("DEBUG", False)
# Required when DEBUG is off: the WSGI entry point refuses to start without it, and Django
# refuses anything that signs (sessions, CSRF). Tooling that signs nothing (migrate,
# makemigrations --check) still runs without it.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "simple_history",
    "import_export",
    "django_filters",
    "django_celery_beat",
    "audit",
    "subscriptions",
    "inventory",
    "notifications",
    "ops",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "partners",
    "events",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "ops.middleware.StaffSessionIdleMiddleware",
    "ops.middleware.StaffTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a lockout raised in authenticate() into its page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username+IP before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "numbermgmt.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "numbermgmt.wsgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Health checks: a persistent connection that PostgreSQL dropped (restart, fail-over, a pooler
# restart) is noticed at the start of the next request and replaced, instead of failing it.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {})
    # WAL and a busy timeout let the web server, worker and beat share one SQLite file.
    DATABASES["default"]["OPTIONS"].update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # PostgreSQL enforces "one policy per match" (NULLS NOT DISTINCT); SQLite cannot.
    SILENCED_SYSTEM_CHECKS = ["models.W047"]
if DATABASES["default"]["ENGINE"].endswith("postgresql") and os.environ.get("PG_JIT", "0") != "1":
    # JIT compiles every query the planner costs above jit_above_cost (globs, big scans) anew
    # on each request: 100–300 ms spent before the first row at 10M numbers, for queries that
    # an index answers in milliseconds. Off for our connections (PG_JIT=1 turns it back on).
    _opts = DATABASES["default"].setdefault("OPTIONS", {})
    _opts["options"] = (_opts.get("options", "") + " -c jit=off").strip()
# A second connection to the same database, autocommit, for an import's progress: the import
# runs in one long transaction, so its own writes stay unseen until it ends
# (inventory.services.import_jobs). On SQLite progress stays on "default" (one writer).
DATABASES["progress"] = {**DATABASES["default"], "CONN_MAX_AGE": 0, "AUTOCOMMIT": True}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    _options = dict(DATABASES["default"].get("OPTIONS", {}))
    _options.pop("pool", None)
    _options["options"] = (_options.get("options", "") + " -c lock_timeout=1000").strip()
    DATABASES["progress"]["OPTIONS"] = _options

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/partner/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Email -----------------------------------------------------------------------------
SUPPORT_EMAIL = os.environ.get("SUPPORT_EMAIL", "support@numbermgmt.example")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "numbermgmt@numbermgmt.example")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if os.environ.get("EMAIL_URL"):  # smtp://user:password@host:port?tls=1 (or ?ssl=1)
    from urllib.parse import parse_qs, unquote, urlsplit

    _email = urlsplit(os.environ["EMAIL_URL"])
    _email_query = {k: v[-1] for k, v in parse_qs(_email.query).items()}
    os.environ.setdefault("EMAIL_HOST", _email.hostname or "localhost")
    os.environ.setdefault("EMAIL_PORT", str(_email.port or (465 if _email.scheme == "smtps" else 25)))
    os.environ.setdefault("EMAIL_HOST_USER", unquote(_email.username or ""))
    os.environ.setdefault("EMAIL_HOST_PASSWORD", unquote(_email.password or ""))
    os.environ.setdefault("EMAIL_USE_TLS", _email_query.get("tls", "0"))
    os.environ.setdefault("EMAIL_USE_SSL", _email_query.get("ssl", "1" if _email.scheme == "smtps" else "0"))
if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", EMAIL_BACKEND)
EMAIL_SUBJECT_PREFIX = os.environ.get("EMAIL_SUBJECT_PREFIX", "[numbermgmt] ")
# Notices (the outbox): delay before each retry of a failed delivery; after the last one the
# notice is marked failed (visible and retryable in the admin). Links in emails use SITE_URL.
NOTICE_RETRY_BACKOFF_SECONDS = [
    int(s) for s in os.environ.get("NOTICE_RETRY_BACKOFF_SECONDS", "60,300,900,3600,14400").split(",")
]
NOTICE_SEND_LEASE_SECONDS = int(os.environ.get("NOTICE_SEND_LEASE_SECONDS", "300"))
# The expiry sweep's batches written at once, each on its own connection (1 = one by one).
SWEEP_WORKERS = max(1, int(os.environ.get("SWEEP_WORKERS", "2")))
SITE_URL = os.environ.get("SITE_URL", "").rstrip("/")

# Webhooks (events app, README "Events and webhooks"): the delay before each retry of a
# failed delivery (seconds; the default adds up to about 3 days), then the delivery is failed.
WEBHOOK_RETRY_SCHEDULE = [
    int(s) for s in os.environ.get(
        "WEBHOOK_RETRY_SCHEDULE", "5,30,120,600,1800,3600,7200,14400,28800,43200,86400,86400"
    ).split(",") if s.strip()
]
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "5"))
# Loopback, private and link-local receivers (and plain http) only when set: tests, a lab.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_SEND_CONCURRENCY = int(os.environ.get("WEBHOOK_SEND_CONCURRENCY", "8"))  # per sender
# How long a rotated-out secret still signs deliveries (both signatures are sent meanwhile).
WEBHOOK_SECRET_OVERLAP_HOURS = int(os.environ.get("WEBHOOK_SECRET_OVERLAP_HOURS", "24"))

# Import jobs (README "Expiry, notices, Celery"): a running job's lease, renewed with its
# progress; once it runs out the worker is taken for dead and the step is run again, up to
# IMPORT_MAX_ATTEMPTS runs, then the job fails with the reason. Uploaded files and error
# reports are deleted IMPORT_RETENTION_DAYS after the job ended (the job row stays).
IMPORT_LEASE_SECONDS = int(os.environ.get("IMPORT_LEASE_SECONDS", "300"))
IMPORT_MAX_ATTEMPTS = int(os.environ.get("IMPORT_MAX_ATTEMPTS", "2"))
IMPORT_RETENTION_DAYS = int(os.environ.get("IMPORT_RETENTION_DAYS", "30"))

# --- Celery ----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_TRANSPORT_OPTIONS: dict[str, object] = {
    "socket_timeout": 1,
    "socket_connect_timeout": 1,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
    "retry_on_timeout": False,
    # A task not acknowledged (acks_late) within this is redelivered; beyond every task's run.
    "visibility_timeout": 3600,
}
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object]  # kombu's per-transport options
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # The broker is never in an admin request's way: short socket timeouts, one retry.
    CELERY_BROKER_TRANSPORT_OPTIONS = dict(REDIS_TRANSPORT_OPTIONS)
else:
    # Embedded default: a transactional broker that needs no server, kombu's SQLAlchemy
    # transport on an SQLite file (the file-system transport crashed the worker: a reader
    # saw a half-written message file). Its options go to SQLAlchemy's create_engine.
    CELERY_BROKER_URL = os.environ.get(
        "EMBEDDED_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}"
    )
    CELERY_BROKER_TRANSPORT_OPTIONS = {"connect_args": {"timeout": 20}}
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# The database scheduler plus beat's heartbeat (ops.beat); the worker's is a scheduled task.
CELERY_BEAT_SCHEDULER = "ops.beat:HeartbeatScheduler"
HEARTBEAT_INTERVAL_SECONDS = int(os.environ.get("HEARTBEAT_INTERVAL_SECONDS", "30"))
# /healthz answers 503 when the worker's or beat's heartbeat is older than this.
HEARTBEAT_STALE_SECONDS = int(os.environ.get("HEARTBEAT_STALE_SECONDS", "300"))
HEALTHZ_CHECK_HEARTBEATS = env_bool("HEALTHZ_CHECK_HEARTBEATS", True)
# One queue name per deployment sharing a Redis (tests running side by side use their own).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "1800"))
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Application -----------------------------------------------------------------------
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
NUMBERMGMT = {
    "DEFAULT_COUNTRY": os.environ.get("DEFAULT_COUNTRY", "SG"),
    "FORM_MAX_NUMBERS": 50,
    "FORM_MAX_RANGE": 10_000,
    "IMPORT_MAX_BYTES": int(os.environ.get("IMPORT_MAX_BYTES", str(200 * 1024 * 1024))),
    "IMPORT_MAX_ROWS": int(os.environ.get("IMPORT_MAX_ROWS", "2000000")),
    "IMPORT_BACKGROUND_ROWS": int(os.environ.get("IMPORT_BACKGROUND_ROWS", "5000")),
    # XLSX is a zip: refuse before parsing when it would inflate past these.
    "IMPORT_MAX_UNZIPPED_BYTES": int(os.environ.get("IMPORT_MAX_UNZIPPED_BYTES", str(1024**3))),
    "IMPORT_MAX_INFLATE_RATIO": int(os.environ.get("IMPORT_MAX_INFLATE_RATIO", "100")),
    "IMPORT_MAX_XLS_BYTES": int(os.environ.get("IMPORT_MAX_XLS_BYTES", str(64 * 1024 * 1024))),
    # openpyxl writes ~3,000 rows/s: bigger XLSX exports belong to the command line.
    "EXPORT_XLSX_MAX_ROWS": int(os.environ.get("EXPORT_XLSX_MAX_ROWS", "200000")),
}
SYSTEM_USERNAME = "system"

# --- API (DESIGN §9) ---------------------------------------------------------------------
# Requests per API key, e.g. "1000/min"; "0" turns the limit off.
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "1000/min")
# Key guessing: refused keys per address before a cool-off (api/authentication.py).
API_KEY_FAILURE_LIMIT = int(os.environ.get("API_KEY_FAILURE_LIMIT", "20"))
API_KEY_COOLOFF_SECONDS = int(os.environ.get("API_KEY_COOLOFF_SECONDS", "900"))
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(2 * 1024 * 1024)))
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.problem_exception_handler",
    "URL_FORMAT_OVERRIDE": None,  # ?format= is the export's csv|xlsx
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "OAS_VERSION": "3.1.0",
    "TITLE": "numbermgmt API",
    "DESCRIPTION": "Numbers, subscriptions and imports for the carrier's billing and provisioning "
                   "systems. Authenticate with `Authorization: Bearer <key>`; errors are RFC 9457 "
                   "problem+json; every POST and PATCH takes an `Idempotency-Key`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_NO_READ_ONLY_REQUIRED": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "NumberStateEnum": "inventory.choices.NumberState",
        "ImportJobStatusEnum": "inventory.choices.ImportJobStatus",
        "DeleteReasonEnum": "inventory.choices.DeleteReason",
        "OrganizationKindEnum": "subscriptions.choices.OrganizationKind",
        "SubscriptionKindEnum": "subscriptions.choices.SubscriptionKind",
        "SubscriptionStatusEnum": "subscriptions.choices.SubscriptionStatus",
        "EventTypeEnum": "events.choices.EventType",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # httpx logs every webhook request at INFO; the delivery attempts are in the database.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# --- Security (README "Running it safely") -----------------------------------------------
# Login throttling (django-axes): after AXES_FAILURE_LIMIT failures for one username from one
# IP address, that pair is refused for AXES_COOLOFF_TIME, then may try again (never a
# permanent lock). The attempts and the successful logins are in the admin (Axes).
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy that sets X-Forwarded-For, the number of proxies in front (0: REMOTE_ADDR).
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_IPWARE_PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
# Two-factor authentication (django-otp: TOTP + static recovery codes). Superusers always need
# it; every staff user too when STAFF_2FA_REQUIRED=1 (the production default; `make run` sets
# 0). Set-up and verification pages live under /accounts/2fa/.
STAFF_2FA_REQUIRED = env_bool("STAFF_2FA_REQUIRED", True)
SUPERUSER_2FA_REQUIRED = True
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "numbermgmt")
TWO_FACTOR_RECOVERY_CODES = 10
# A staff session ends after this long without a request (0: only the cookie's own age).
SESSION_IDLE_SECONDS = int(os.environ.get("SESSION_IDLE_SECONDS", "1800"))

# Content-Security-Policy (django-csp 4): only this origin's scripts, styles, images, fonts.
# style-src allows inline styles (Django's admin and the email previews use style attributes).
# Inline scripts are refused everywhere except the exact handler hashed below (every page's
# own script is a static file).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.SELF],
        "script-src": [
            csp.constants.SELF,
            # `onclick="window.history.back(); return false;"`: the admin action forms' Cancel link
            "'unsafe-hashes'",
            "'sha256-AfF7Zpss3yRxs9+CwZi+8AJ+P1k/pvUDVNhT2itVHIY='",
        ],
        "style-src": [csp.constants.SELF, csp.constants.UNSAFE_INLINE],
        "img-src": [csp.constants.SELF, "data:"],
        "font-src": [csp.constants.SELF],
        "connect-src": [csp.constants.SELF],
        "object-src": [csp.constants.NONE],
        "base-uri": [csp.constants.SELF],
        "form-action": [csp.constants.SELF],
        "frame-ancestors": [csp.constants.NONE],
    },
}
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in ("accelerometer", "camera", "geolocation", "gyroscope", "magnetometer",
                    "microphone", "payment", "usb", "interest-cohort")
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Trust X-Forwarded-Proto only when a proxy in front sets it (and strips it from clients);
# otherwise anyone could claim "https" and get secure-only behaviour over plain HTTP.
TRUST_PROXY_SSL_HEADER = env_bool("TRUST_PROXY_SSL_HEADER", False)
if TRUST_PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
