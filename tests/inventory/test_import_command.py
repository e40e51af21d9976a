"""manage.py import_numbers: exit status and per-row errors on stderr; export_numbers with filters."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inventory.models import PhoneNumber
from tests.conftest import SAMPLES

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


def test_import_exits_0_when_imported(sample_catalog):
    code, out, err = run("import_numbers", str(SAMPLES / "numbers-basic.csv"))
    assert code == 0, err
    assert "imported" in out and "200 new" in out
    assert PhoneNumber.objects.count() == 200
    history = PhoneNumber.history.first()
    assert history.history_user.username == "system" and history.history_change_reason == "numbers-basic.csv"


def test_import_with_errors_exits_1_and_lists_rows_on_stderr(sample_catalog):
    code, out, err = run("import_numbers", str(SAMPLES / "numbers-with-errors.csv"))
    assert code == 1
    assert PhoneNumber.objects.count() == 0
    for line in range(5, 13):
        assert f"row {line}, " in err
    assert "row 7, vendor: unknown vendor 'No Such Vendor'" in err
    assert "row 2," not in err and "nothing imported" in err


def test_import_valid_only(sample_catalog):
    code, out, err = run("import_numbers", str(SAMPLES / "numbers-with-errors.csv"), "--valid-only")
    assert code == 0 and PhoneNumber.objects.count() == 3
    assert "row 5, number: duplicate of row 2" in err


def test_dry_run_writes_nothing(sample_catalog):
    code, out, _ = run("import_numbers", str(SAMPLES / "numbers-legacy.xls"), "--dry-run")
    assert code == 0 and "preview, nothing written" in out
    assert PhoneNumber.objects.count() == 0
    code, _, err = run("import_numbers", str(SAMPLES / "numbers-with-errors.csv"), "--dry-run")
    assert code == 1 and "row 12, number" in err


def test_country_option(tmp_path, sample_catalog):
    path = tmp_path / "national.csv"
    path.write_text("number,vendor,sku\n6700 0031,M1 Trunks,SG-DID-STD\n")
    code, _, err = run("import_numbers", str(path))
    assert code == 2 and "missing column: country" in err
    code, _, err = run("import_numbers", str(path), "--country", "SG")
    assert code == 0, err
    assert PhoneNumber.objects.filter(e164="+6567000031").exists()


def test_unreadable_file_exits_2(tmp_path, sample_catalog):
    code, _, err = run("import_numbers", str(tmp_path / "missing.csv"))
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04nonsense")
    code, _, err = run("import_numbers", str(bad))
    assert code == 2 and "not a readable XLSX file" in err


def test_import_as_a_named_user_and_full_error_file(tmp_path, sample_catalog, ops_user):
    report = tmp_path / "errors.csv"
    code, _, _ = run("import_numbers", str(SAMPLES / "numbers-with-errors.csv"), "--user", "ops",
                     "--errors", str(report))
    assert code == 1
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][-2:] == ["row", "reason"] and rows[0][0] == "number" and len(rows) == 9
    code, _, _ = run("import_numbers", str(SAMPLES / "numbers-basic.csv"), "--user", "ops")
    assert code == 0 and PhoneNumber.history.first().history_user == ops_user


# --- export_numbers ---------------------------------------------------------------------


@pytest.fixture
def catalog_numbers(sample_catalog):
    call_command("import_numbers", str(SAMPLES / "numbers-basic.csv"), stdout=io.StringIO())


def test_export_command_filters_like_the_admin(tmp_path, catalog_numbers):
    out = tmp_path / "m1.csv"
    code, stdout, err = run("export_numbers", "--vendor", "M1 Trunks", "--golden", "no", "--format", "csv",
                            "-o", str(out))
    assert code == 0, err
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    expected = PhoneNumber.objects.filter(vendor__name="M1 Trunks", is_golden=False)
    assert sorted(r["number"] for r in rows) == sorted(expected.values_list("e164", flat=True))
    assert f"{len(rows)} numbers written" in stdout and rows


def test_export_command_pattern_and_state(tmp_path, catalog_numbers):
    out = tmp_path / "p.xlsx"
    code, _, err = run("export_numbers", "--number", "+656600001*", "--state", "available",
                       "--format", "xlsx", "-o", str(out))
    assert code == 0, err
    sheet = openpyxl.load_workbook(out, read_only=True).worksheets[0]
    numbers = [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert numbers == [f"+656600001{i}" for i in range(10)]


def test_export_command_bad_filter(tmp_path, catalog_numbers):
    code, _, err = run("export_numbers", "--number", "+65abc", "-o", str(tmp_path / "x.csv"))
    assert code == 1 and "invalid filter" in err and "number" in err
