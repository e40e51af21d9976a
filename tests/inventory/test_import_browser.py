"""The mapping step in Chromium: a file with odd headers → map → preview → confirm."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.test_import_export import PASSWORD, importer  # noqa: F401 - a fixture
from tests.browser_support import login

ODD = ("Phone No.;Lieferant;Artikel;Farbe\n"
       "6566100001;M1 Trunks;SG-DID-STD;rot\n"
       "6566100002;StarHub Carrier;SG-DID-GOLD;blau\n")


def test_mapping_step_then_preview_and_confirm(page, importer, screenshot, tmp_path):  # noqa: F811
    from inventory.models import ImportMapping, PhoneNumber

    path = tmp_path / "supplier-list.csv"
    path.write_text(ODD, encoding="utf-8")
    login(page, "importer", PASSWORD, "/admin/login/?next=/admin/inventory/phonenumber/import/")
    page.fill("input[name=country]", "SG")
    page.set_input_files("input[name=file]", str(path))
    page.click("#import-upload")

    expect(page.locator("#mapping-intro")).to_contain_text("Lieferant")
    # "Phone No." is a known alias: filled in; the others are the importer's to choose.
    expect(page.get_by_label("Phone No.")).to_have_value("number")
    expect(page.get_by_label("Lieferant")).to_have_value("")
    expect(page.locator("#mapping-columns")).to_contain_text("rot")
    page.get_by_label("Lieferant").select_option("vendor")
    page.get_by_label("Artikel").select_option("sku")
    page.get_by_label("Farbe").select_option("notes")
    screenshot(page, "import-mapping")
    page.click("#mapping-save")

    expect(page.locator("#count-new")).to_have_text("2")
    expect(page.locator("#import-message")).to_contain_text("Lieferant → vendor")
    assert PhoneNumber.objects.count() == 0, "the preview writes nothing"
    page.click("#import-confirm")
    expect(page.locator("#import-status")).to_contain_text("imported")
    assert dict(PhoneNumber.objects.values_list("e164", "notes")) == {
        "+6566100001": "rot", "+6566100002": "blau"}
    assert ImportMapping.objects.get().mapping["columns"]["Farbe"] == "notes"
