"""The operational commands and endpoints a fresh clone relies on."""

import io

import pytest
from django.core.management import CommandError, call_command

from inventory.choices import NumberState
from inventory.models import PhoneNumber, Reservation


@pytest.mark.django_db
def test_seed_demo_fills_every_state_and_is_safe_to_rerun():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    counts = {s: PhoneNumber.objects.filter(state=s).count() for s in NumberState.values}
    assert all(counts[s] > 0 for s in NumberState.values), counts
    assert sum(counts.values()) >= 2500
    # some reservations end within the notice lead time, and demo history names the ops user
    assert PhoneNumber.objects.filter(state="reserved", expires_at__isnull=False).exists()
    assert Reservation.objects.filter(kind="charged", status="active").exists()
    assert PhoneNumber.history.filter(history_user__username="ops").exists()
    before = PhoneNumber.objects.count()
    call_command("seed_demo", stdout=io.StringIO())
    assert PhoneNumber.objects.count() == before


@pytest.mark.django_db
def test_add_numbers_command_reports_refusals(vendor, sku):
    out, err = io.StringIO(), io.StringIO()
    call_command("add_numbers", "+6561000000-+6561000004, 6700-0003, +65abc", vendor=vendor.name,
                 sku=sku.code, country="SG", stdout=out, stderr=err)
    assert "6 added, 1 refused" in out.getvalue()
    assert "+65abc" in err.getvalue() and "not a phone number" in err.getvalue()
    assert PhoneNumber.objects.filter(e164="+6567000003").exists()
    with pytest.raises(CommandError, match="Unknown vendor"):
        call_command("add_numbers", "+6561000009", vendor="Nobody", sku=sku.code,
                     stdout=io.StringIO(), stderr=io.StringIO())


@pytest.mark.django_db
def test_ensure_admin_prints_the_login():
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "user 'admin' password 'admin'" in out.getvalue()
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "exists" in out.getvalue()


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["database"] == "ok"


def test_production_entry_point_refuses_to_start_without_a_secret_key():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env["DEBUG"] = "0"
    refused = subprocess.run([sys.executable, "-c", "import numbermgmt.wsgi"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "SECRET_KEY must be set" in refused.stderr
    started = subprocess.run([sys.executable, "-c", "import numbermgmt.wsgi"],
                             env={**env, "SECRET_KEY": "x" * 50}, capture_output=True, text=True,
                             timeout=60)
    assert started.returncode == 0, started.stderr
