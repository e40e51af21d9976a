"""Shared fixtures. Services that are absent skip their tests with a reason, unless
REQUIRE_SERVICES=1 (CI), where an absent service fails the run instead."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

# One definition of the browser fixtures for every folder (two session-scoped Playwright
# instances in one run collide: "Sync API inside the asyncio loop").
pytest_plugins = ["tests.browser_support"]

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# The product owner's real-world import files (shared/data/samples), copied into the
# repository so that a clean clone anywhere (CI) has them.
SAMPLES = Path(__file__).resolve().parent / "data" / "samples"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def redis_up() -> bool:
    host, port = REDIS_URL.split("//", 1)[1].split("/")[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "browser" in str(item.fspath).split(os.sep):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def _service_requirements(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("this test needs PostgreSQL (set DATABASE_URL=postgres://…)")
    if request.node.get_closest_marker("redis") and not redis_up():
        _missing(f"this test needs Redis at {REDIS_URL}")
    if request.node.get_closest_marker("browser") and not shutil.which(CHROMIUM):
        _missing(f"this test needs Chromium at {CHROMIUM} (apt-get install -y chromium)")


DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}
ROOT = Path(__file__).resolve().parents[1]


def _data_steps() -> list[Callable[..., object]]:
    """The RunPython steps of this project's own migrations, in the order `migrate` runs them:
    the rows the migrations ship (policies, Ops groups, beat schedules and their later renames),
    written by the migrations' own code, so a new data migration is covered without a list."""
    from django.apps import apps
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.operations import RunPython

    ours = {c.label for c in apps.get_app_configs() if Path(c.path).parent == ROOT}
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    return [op.code for migration, _ in plan if migration.app_label in ours
            for op in migration.operations if isinstance(op, RunPython)]


_test_database_ready = False


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's, noting while the test database exists (the restore below must never
    write to any other database)."""
    global _test_database_ready
    _test_database_ready = True
    yield
    _test_database_ready = False


def _uses_database(item: pytest.Item) -> bool:
    return _test_database_ready and (item.get_closest_marker("django_db") is not None or bool(
        DB_FIXTURES & set(getattr(item, "fixturenames", ()))))


def shipped_rows_missing() -> bool:
    from django_celery_beat.models import PeriodicTask

    from inventory.models import LifecyclePolicy

    return not (Group.objects.filter(name="Ops").exists() and LifecyclePolicy.objects.exists()
                and PeriodicTask.objects.exists())


def shipped_rows_restore() -> None:
    """Run the data steps of the migrations again (they are idempotent: get_or_create, IF NOT
    EXISTS), with the live app registry, in one transaction."""
    from django.apps import apps
    from django.db import connection

    global _steps
    _steps = _steps or _data_steps()
    with connection.schema_editor() as editor:
        for step in _steps:
            step(apps, editor)


_steps: list[Callable[..., object]] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """The one place that keeps tests independent of their order: a transactional test ends
    with a flush that empties every table, the migrated rows too; once its fixtures are torn
    down, put those rows back (committed), so whatever runs next sees the migrated database."""
    result = yield
    if _uses_database(item):
        from pytest_django.plugin import blocking_manager_key

        with item.config.stash[blocking_manager_key].unblock():
            if shipped_rows_missing():
                shipped_rows_restore()
    return result


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def ops_user(db):
    user = get_user_model().objects.create_user(
        "ops", "ops@example.com", "ops-password", is_staff=True
    )
    user.groups.add(Group.objects.get(name="Ops"))
    return user


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass")


@pytest.fixture
def vendor(db):
    from inventory.models import Vendor

    return Vendor.objects.create(name="Singtel Wholesale")


@pytest.fixture
def sample_catalog(db):
    """The vendors and SKUs the sample import files name."""
    from inventory.models import Sku, Vendor

    vendors = [Vendor.objects.get_or_create(name=n)[0]
               for n in ("Singtel Wholesale", "StarHub Carrier", "M1 Trunks")]
    skus = [Sku.objects.get_or_create(code="SG-DID-STD", defaults={"name": "Standard"})[0],
            Sku.objects.get_or_create(code="SG-DID-GOLD", defaults={"name": "Golden"})[0]]
    return vendors, skus


@pytest.fixture
def sku(db):
    from inventory.models import Sku

    return Sku.objects.get_or_create(code="SG-DID-STD", defaults={"name": "Standard"})[0]


@pytest.fixture
def partner(db):
    from subscriptions.models import Organization

    return Organization.objects.create(
        name="Acme Partner", kind="partner", owner_email="owner@acme.example",
        support_email="support@acme.example", domain="acme.example",
    )


@pytest.fixture
def other_partner(db):
    from subscriptions.models import Organization

    return Organization.objects.create(
        name="Other Partner", kind="partner", owner_email="owner@other.example",
        support_email="support@other.example", domain="other.example",
    )


@pytest.fixture
def customer(partner):
    from subscriptions.models import Organization

    return Organization.objects.create(
        name="Beta Customer", kind="customer", parent=partner, billing_email="billing@beta.example"
    )


@pytest.fixture
def other_customer(other_partner):
    from subscriptions.models import Organization

    return Organization.objects.create(
        name="Gamma Customer", kind="customer", parent=other_partner,
        billing_email="billing@gamma.example",
    )


@pytest.fixture
def make_subscription(db, now):
    from subscriptions.models import Subscription

    def make(organization, *, kind="service", status="active", allowance=None, subscriber="",
             period_end=None, plan="Business DID"):
        return Subscription.objects.create(
            organization=organization, kind=kind, status=status, number_allowance=allowance,
            subscriber=subscriber, plan=plan,
            current_period_end=period_end or now + dt.timedelta(days=30),
        )

    return make


@pytest.fixture
def service(customer, make_subscription):
    return make_subscription(customer)


@pytest.fixture
def make_numbers(vendor, sku, now):
    """make_numbers(n, start="+6560000000", **attrs) → list of fresh available numbers."""
    from inventory.services import number_add

    def make(count=1, start="+6560000000", **attrs):
        last = f"+{int(start[1:]) + count - 1}"
        spec = start if count == 1 else f"{start}-{last}"
        result = number_add(numbers=spec, vendor=vendor, sku=sku, actor=None, now=now, **attrs)
        assert not result.rejected, result.rejected
        return result.done

    return make
