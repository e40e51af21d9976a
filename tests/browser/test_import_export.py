"""Import and export in Chromium: upload → preview → confirm, the live progress bar, an export download."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.conftest import SAMPLES

PASSWORD = "browser-pass-4417"


@pytest.fixture
def importer(transactional_db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    from inventory.models import Sku, Vendor

    for name in ("Singtel Wholesale", "StarHub Carrier", "M1 Trunks"):
        Vendor.objects.get_or_create(name=name)
    for code in ("SG-DID-STD", "SG-DID-GOLD"):
        Sku.objects.get_or_create(code=code)
    user = get_user_model().objects.create_user("importer", password=PASSWORD, is_staff=True)
    # The live server's database is flushed between tests (the "Ops" group of the data
    # migration may be gone): give the permissions the page needs directly.
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label="inventory",
        codename__in=["view_phonenumber", "import_phonenumber", "export_phonenumber"]))
    return user


def test_upload_preview_confirm(page, importer, screenshot):
    from inventory.models import PhoneNumber

    login(page, "importer", PASSWORD, "/admin/login/?next=/admin/inventory/phonenumber/")
    page.click("#import-numbers-link")
    expect(page.locator("h1")).to_contain_text("Import numbers")
    page.set_input_files("input[name=file]", str(SAMPLES / "numbers-with-errors.csv"))
    page.click("#import-upload")

    expect(page.locator("#count-new")).to_have_text("3")
    expect(page.locator("#count-refused")).to_have_text("8")
    refused = page.locator("#refused-rows tbody tr")
    expect(refused).to_have_count(8)
    expect(refused.nth(2)).to_contain_text("unknown vendor 'No Such Vendor'")
    confirm = page.locator("#import-confirm")
    expect(confirm).to_be_disabled()  # all or nothing: nothing can be imported as it stands
    screenshot(page, "import-preview")
    assert PhoneNumber.objects.count() == 0

    page.check("#id_valid_only")
    expect(confirm).to_be_enabled()
    confirm.click()
    expect(page.locator("ul.messagelist")).to_contain_text("valid rows imported")
    expect(page.locator("#import-status")).to_contain_text("imported")
    assert sorted(PhoneNumber.objects.values_list("e164", flat=True)) == [
        "+6567000001", "+6567000002", "+6567000003"]
    with page.expect_download() as info:
        page.click("#error-report-link")
    report = info.value.path().read_text(encoding="utf-8-sig")
    assert [r[-2] for r in csv.reader(io.StringIO(report))][1:] == [str(i) for i in range(5, 13)]
    with page.expect_download() as info:
        page.click("#error-report-xlsx-link")
    assert info.value.suggested_filename == "numbers-with-errors-errors.xlsx"


def test_progress_bar_follows_a_background_job_without_reloading(page, importer, screenshot):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from inventory.choices import ImportJobStatus
    from inventory.models import ImportJob

    job = ImportJob.objects.create(
        file=SimpleUploadedFile("big.csv", b"number,country,vendor,sku\n"), original_name="big.csv",
        created_by=importer, status=ImportJobStatus.RUNNING, total_rows=1000, processed_rows=100)
    login(page, "importer", PASSWORD, f"/admin/inventory/phonenumber/import/{job.uuid}/")
    bar = page.locator("#import-progress")
    expect(bar).to_have_attribute("value", "10")
    page.evaluate("window.__sameDocument = true")

    ImportJob.objects.filter(pk=job.pk).update(processed_rows=400)  # the worker moves on
    expect(bar).to_have_attribute("value", "40")
    expect(page.locator("#import-progress-text")).to_contain_text("400")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    screenshot(page, "import-progress")

    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJobStatus.PREVIEWED, processed_rows=1000, created_count=1000, total_rows=1000)
    expect(page.locator("#count-new")).to_have_text("1000")  # done: the page shows the preview
    expect(page.locator("#import-confirm")).to_be_enabled()


def test_export_download_is_the_filtered_list(page, importer):
    from inventory.models import PhoneNumber
    from inventory.services import number_add, number_lock

    number_add(numbers="+6566900000-+6566900009", vendor="M1 Trunks", sku="SG-DID-STD", actor=importer)
    number_lock(numbers=PhoneNumber.objects.filter(e164__gte="+6566900005"), actor=importer,
                remark="hold")
    login(page, "importer", PASSWORD, "/admin/inventory/phonenumber/?state=locked")
    with page.expect_download() as info:
        page.click("#export-csv-link")
    download = info.value
    assert download.suggested_filename.startswith("numbers-locked-")
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    assert [r["number"] for r in rows] == [f"+656690000{i}" for i in range(5, 10)]
    assert {r["state"] for r in rows} == {"locked"}
