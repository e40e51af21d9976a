"""JeraSoft's columns: the vendor's reseller and the notes, in the numbers' All tab and the
export; the vendor list shows the reseller and filters by it from the sidebar."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.urls import reverse

from inventory.models import Vendor
from inventory.services import number_add

pytestmark = pytest.mark.django_db
CL = reverse("admin:inventory_phonenumber_changelist")


@pytest.fixture
def resold(partner, sku, now):
    """A vendor resold by Acme with one number, and a direct vendor with one number."""
    acme_vendor = Vendor.objects.create(name="Acme Wholesale", reseller=partner)
    direct = Vendor.objects.create(name="Direct Carrier")
    number_add(numbers="+6561000001", vendor=acme_vendor, sku=sku, actor=None, now=now,
               notes="Port from <old PBX>")
    number_add(numbers="+6561000002", vendor=direct, sku=sku, actor=None, now=now)
    return acme_vendor, direct


def test_all_tab_shows_reseller_and_notes(ops, resold):
    html = ops.get(CL).content.decode()
    assert ">Reseller<" in html and ">Notes<" in html
    assert "Acme Partner" in html
    assert "Port from &lt;old PBX&gt;" in html and "<old PBX>" not in html


def test_export_has_reseller_and_notes(ops, resold):
    response = ops.get(reverse("admin:inventory_phonenumber_export", args=["csv"]))
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = {r["number"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (rows["+6561000001"]["reseller"], rows["+6561000001"]["notes"]) == ("Acme Partner",
                                                                               "Port from <old PBX>")
    assert rows["+6561000002"]["reseller"] == ""


def test_xlsx_export_has_reseller(ops, resold):
    response = ops.get(reverse("admin:inventory_phonenumber_export", args=["xlsx"]))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)
                                              if response.streaming else response.content)).worksheets[0]
    header = [c.value for c in sheet[1]]
    values = {row[0]: dict(zip(header, row, strict=True))
              for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert values["+6561000001"]["reseller"] == "Acme Partner"


def test_vendor_list_shows_and_filters_by_reseller(ops, resold, partner):
    acme_vendor, direct = resold
    url = reverse("admin:inventory_vendor_changelist")
    page = ops.get(url).content.decode()
    assert "Acme Partner" in page and "Direct Carrier" in page
    assert f"reseller__id__exact={partner.pk}" in page  # the sidebar's choice
    filtered = ops.get(url, {"reseller__id__exact": partner.pk}).content.decode()
    assert "Acme Wholesale" in filtered and "Direct Carrier" not in filtered
    unsold = ops.get(url, {"reseller__isnull": "True"}).content.decode()
    assert "Direct Carrier" in unsold and "Acme Wholesale" not in unsold
