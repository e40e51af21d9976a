"""Hostile import input: calendar-edge dates, non-ASCII digits (the preview and the import
agree), a huge shared-string table, and a file larger than one chunk against an allowance."""

from __future__ import annotations

import zipfile

import pytest

from inventory.choices import NumberState
from inventory.imports import import_file
from inventory.models import PhoneNumber
from tests.inventory.test_import_rules import HEAD, csv_file

pytestmark = pytest.mark.django_db

write = csv_file


@pytest.mark.parametrize("when", [
    "9999-12-31T23:00:00-05:00",   # past the calendar's end in UTC
    "0001-01-01T00:30:00+05:00",   # before its start in UTC
    "9999-12-31",                  # representable, but not in every time zone a page shows
    "0001-01-01",
])
def test_calendar_edge_dates_are_refused_per_row(tmp_path, sample_catalog, ops_user, when):
    path = write(tmp_path, f"{HEAD},state,expires_at\n+6566300001,SG,M1 Trunks,SG-DID-STD,locked,{when}\n"
                           f"+6566300002,SG,M1 Trunks,SG-DID-STD,locked,2027-01-31\n")
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    [error] = summary.errors
    assert (error.row, error.column) == (2, "expires_at"), error
    assert "outside the years" in error.reason or "not a date" in error.reason
    assert list(PhoneNumber.objects.values_list("e164", flat=True)) == ["+6566300002"]
    assert PhoneNumber.objects.get().expires_at.year == 2027


@pytest.mark.parametrize("raw", ["+６５６６３０００１０", "+٦٥٦٦٣٠٠٠١٠", "６５６６３０００１０"])
def test_non_ascii_digits_preview_and_import_agree(tmp_path, sample_catalog, ops_user, raw):
    path = write(tmp_path, f"{HEAD}\n{raw},SG,M1 Trunks,SG-DID-STD\n+6566300011,SG,M1 Trunks,SG-DID-STD\n")
    preview = import_file(path, actor=ops_user, dry_run=True, all_or_nothing=False)
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    assert (preview.created, preview.refused) == (summary.created, summary.refused)
    assert [(e.row, e.column, e.reason) for e in preview.errors] == [
        (e.row, e.column, e.reason) for e in summary.errors]
    stored = list(PhoneNumber.objects.values_list("e164", flat=True))
    assert all(e164.isascii() for e164 in stored), stored
    assert len(stored) == summary.created


def _xlsx_with_strings(path, count: int, *, unique: bool = True) -> None:
    """A minimal XLSX: one sheet, a header row and `count` shared strings (texts)."""
    strings = ["number", "country", "vendor", "sku", "+6566300021", "SG", "M1 Trunks", "SG-DID-STD"]
    strings += [f"filler {i}" if unique else "" for i in range(count)]
    sst = "".join(f"<si><t>{s}</t></si>" for s in strings)
    row = lambda r, first: "".join(  # noqa: E731
        f'<c r="{col}{r}" t="s"><v>{first + i}</v></c>' for i, col in enumerate("ABCD"))
    sheet = (f'<worksheet xmlns="{NS}"><sheetData><row r="1">{row(1, 0)}</row>'
             f'<row r="2">{row(2, 4)}</row></sheetData></worksheet>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr("xl/sharedStrings.xml",
                   f'<sst xmlns="{NS}" count="{len(strings)}" uniqueCount="{len(strings)}">{sst}</sst>')


NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CONTENT_TYPES = (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>')
ROOT_RELS = (f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
             f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
             '</Relationships>')
WORKBOOK = (f'<workbook xmlns="{NS}" xmlns:r="{REL}"><sheets>'
            '<sheet name="Numbers" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                 f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
                 f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
                 '</Relationships>')


def test_shared_string_table_within_bounds_imports(tmp_path, sample_catalog, ops_user, settings):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_SHARED_STRINGS": 5000}
    path = tmp_path / "ok.xlsx"
    _xlsx_with_strings(path, 4000)
    summary = import_file(path, actor=ops_user)
    assert summary.imported and summary.created == 1, summary.message()


@pytest.mark.parametrize("unique", [True, False])
def test_huge_shared_string_table_is_refused_before_openpyxl_reads_it(tmp_path, sample_catalog, ops_user,
                                                                       settings, unique):
    # Far below the size and inflate bounds (a few hundred KB that deflate well), but more
    # texts than the bound: openpyxl would hold every one of them in a list.
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_SHARED_STRINGS": 5000}
    path = tmp_path / "many.xlsx"
    _xlsx_with_strings(path, 20_000, unique=unique)
    summary = import_file(path, actor=ops_user)
    assert not summary.imported and "shared-string table holds more than 5,000 texts" in summary.file_error
    assert not PhoneNumber.objects.exists()


def test_shared_string_table_size_bound(tmp_path, sample_catalog, ops_user, settings):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_SHARED_STRINGS_BYTES": 64 * 1024}
    path = tmp_path / "big.xlsx"
    _xlsx_with_strings(path, 20_000)
    summary = import_file(path, actor=ops_user)
    assert "shared-string table is" in summary.file_error and not PhoneNumber.objects.exists()


def test_preview_counts_an_allowance_across_every_chunk(tmp_path, sample_catalog, ops_user, service):
    service.number_allowance = 3
    service.save()
    rows = "\n".join(f"+65663001{i:02d},SG,M1 Trunks,SG-DID-STD,assigned,{service.uuid}" for i in range(5))
    path = write(tmp_path, f"{HEAD},state,subscription\n{rows}")
    # Chunks of two rows: chunk by chunk, each would pass against the allowance of 3.
    preview = import_file(path, actor=ops_user, dry_run=True, all_or_nothing=False, chunk_rows=2)
    summary = import_file(path, actor=ops_user, all_or_nothing=False, chunk_rows=2)
    assert [(e.row, e.reason) for e in preview.errors] == [(e.row, e.reason) for e in summary.errors]
    assert [e.row for e in summary.errors] == [5, 6]
    assert "allowance of 3 numbers reached" in summary.errors[0].reason
    assert (preview.created, preview.refused) == (summary.created, summary.refused) == (3, 2)
    assert PhoneNumber.objects.filter(state=NumberState.ASSIGNED, subscription=service).count() == 3
