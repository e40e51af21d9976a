"""Reading import files: the four samples, encodings, delimiters, spreadsheet cells, hostile files."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl
import pytest

from inventory.imports import import_file
from inventory.models import PhoneNumber
from tests.conftest import SAMPLES

pytestmark = pytest.mark.django_db

HEADER = ["number", "country", "vendor", "sku", "capabilities", "routing", "golden", "ported_in",
          "tags", "notes"]


def basic_rows() -> list[dict[str, str]]:
    with open(SAMPLES / "numbers-basic.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def assert_matches_basic() -> None:
    """The 200 numbers of numbers-basic.csv are stored with every attribute the file gives."""
    expected = basic_rows()
    stored = {n.e164: n for n in PhoneNumber.objects.select_related("vendor", "sku")}
    assert len(stored) == 200 == len(expected)
    for row in expected:
        n = stored[row["number"]]
        caps = set(row["capabilities"].split(";"))
        assert n.country == row["country"]
        assert n.vendor.name == row["vendor"] and n.sku.code == row["sku"]
        assert (n.voice, n.sms, n.fax) == ("voice" in caps, "sms" in caps, "fax" in caps)
        assert n.routing == row["routing"]
        assert n.is_golden == (row["golden"] == "yes")
        assert n.is_ported_in == (row["ported_in"] == "yes")
        assert n.tag_list == sorted(t for t in row["tags"].split(";") if t)
        assert n.notes == row["notes"]


def write(path, rows, *, header=HEADER, delimiter=",", encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def row(number, notes="", **extra):
    base = {"number": number, "country": "SG", "vendor": "Singtel Wholesale", "sku": "SG-DID-STD",
            "capabilities": "voice", "routing": "", "golden": "no", "ported_in": "no", "tags": "",
            "notes": notes}
    base.update(extra)
    return [base[h] for h in HEADER]


def xlsx(path, header, rows):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for r in rows:
        sheet.append(r)
    book.save(path)
    return path


# --- the samples ------------------------------------------------------------------------


def test_basic_csv_imports_all_200_rows_with_their_attributes(sample_catalog, ops_user):
    summary = import_file(SAMPLES / "numbers-basic.csv", actor=ops_user)
    assert summary.imported and summary.created == 200 and summary.refused == 0, summary.message()
    assert_matches_basic()


@pytest.mark.parametrize("name", ["numbers-from-spreadsheet.xlsx", "numbers-legacy.xls"])
def test_spreadsheets_restore_the_plus_and_import_the_same_rows(sample_catalog, ops_user, name):
    summary = import_file(SAMPLES / name, actor=ops_user)
    assert summary.imported and summary.created == 200, summary.message()
    assert_matches_basic()


@pytest.mark.parametrize("name", ["numbers-from-spreadsheet.xlsx", "numbers-legacy.xls"])
def test_spreadsheet_of_an_imported_csv_changes_nothing(sample_catalog, ops_user, name):
    import_file(SAMPLES / "numbers-basic.csv", actor=ops_user)
    history = PhoneNumber.history.count()
    summary = import_file(SAMPLES / name, actor=ops_user)
    assert (summary.created, summary.changed, summary.unchanged) == (0, 0, 200)
    assert PhoneNumber.history.count() == history


def test_errors_sample_imports_nothing_and_names_each_bad_row(sample_catalog, ops_user):
    summary = import_file(SAMPLES / "numbers-with-errors.csv", actor=ops_user)
    assert not summary.imported
    assert PhoneNumber.objects.count() == 0
    by_row = {}
    for error in summary.errors:
        by_row.setdefault(error.row, []).append(error)
    assert sorted(by_row) == list(range(5, 13)), "rows 2-4 alone are valid"
    expect = {
        5: ("number", "duplicate of row 2"),
        6: ("number", "not a phone number"),
        7: ("vendor", "unknown vendor 'No Such Vendor'"),
        8: ("sku", "required"),
        9: ("capabilities", "unknown capability 'telepathy'"),
        10: ("number", "too short"),
        11: ("golden", "not yes/no"),
        12: ("number", "formula"),
    }
    for line, (column, reason) in expect.items():
        assert any(e.column == column and reason in e.reason for e in by_row[line]), by_row[line]
    assert summary.refused == 8 and summary.created + summary.changed + summary.unchanged == 3


def test_errors_sample_valid_only_imports_rows_2_to_4(sample_catalog, ops_user):
    summary = import_file(SAMPLES / "numbers-with-errors.csv", actor=ops_user, all_or_nothing=False)
    assert summary.imported and summary.created == 3 and summary.refused == 8
    assert sorted(PhoneNumber.objects.values_list("e164", flat=True)) == [
        "+6567000001", "+6567000002", "+6567000003"]


# --- encodings, delimiters, headers -----------------------------------------------------


def test_utf8_with_bom(tmp_path, sample_catalog, ops_user):
    path = write(tmp_path / "bom.csv", [row("+6566100001", notes="Zürich café")], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    summary = import_file(path, actor=ops_user)
    assert summary.imported, summary.message()
    assert PhoneNumber.objects.get(e164="+6566100001").notes == "Zürich café"


def test_latin1_file(tmp_path, sample_catalog, ops_user):
    path = write(tmp_path / "latin1.csv", [row("+6566100002", notes="Café Ñandú")], encoding="latin-1")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    summary = import_file(path, actor=ops_user)
    assert summary.imported, summary.message()
    assert PhoneNumber.objects.get(e164="+6566100002").notes == "Café Ñandú"


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, sample_catalog, ops_user, delimiter):
    path = write(tmp_path / "d.csv", [row("+6566100003", capabilities="voice;sms", tags="a;b"),
                                      row("+6566100004")], delimiter=delimiter)
    summary = import_file(path, actor=ops_user)
    assert summary.imported and summary.created == 2, summary.message()
    n = PhoneNumber.objects.get(e164="+6566100003")
    assert (n.voice, n.sms) == (True, True) and n.tag_list == ["a", "b"]


def test_headers_any_case_any_order_only_four_required(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "h.csv"
    path.write_text("SKU,Vendor, NUMBER ,Country\nSG-DID-GOLD,m1 trunks,+6566100005,sg\n", encoding="utf-8")
    summary = import_file(path, actor=ops_user)
    assert summary.imported, summary.message()
    n = PhoneNumber.objects.get(e164="+6566100005")
    assert (n.vendor.name, n.sku.code, n.country) == ("M1 Trunks", "SG-DID-GOLD", "SG")
    assert (n.voice, n.sms, n.fax) == (n.sku.voice, n.sku.sms, n.sku.fax)  # the SKU's defaults


def test_missing_required_column_is_a_file_error(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "m.csv"
    path.write_text("number,country,vendor\n+6566100006,SG,M1 Trunks\n", encoding="utf-8")
    summary = import_file(path, actor=ops_user)
    assert not summary.imported and "missing column: sku" in summary.file_error
    assert PhoneNumber.objects.count() == 0


def test_unknown_columns_are_ignored_and_reported(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "u.csv"
    path.write_text("number,country,vendor,sku,colour\n+6566100007,SG,M1 Trunks,SG-DID-STD,blue\n")
    summary = import_file(path, actor=ops_user)
    assert summary.imported and summary.ignored_columns == ["colour"]
    assert "ignored columns: colour" in summary.message()


# --- numbers as spreadsheets mangle them --------------------------------------------------


def test_national_formats_and_default_country(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "n.csv"
    path.write_text("number,vendor,sku\n6700 0011,M1 Trunks,SG-DID-STD\n"
                    "(+65) 6700-0012,M1 Trunks,SG-DID-STD\n")
    without = import_file(path, actor=ops_user, dry_run=True)
    assert "missing column: country" in without.file_error
    summary = import_file(path, actor=ops_user, country="SG")
    assert summary.imported and summary.created == 2, summary.message()
    assert set(PhoneNumber.objects.values_list("e164", flat=True)) == {"+6567000011", "+6567000012"}


def test_float_and_integer_cells_get_their_plus(tmp_path, sample_catalog, ops_user):
    path = xlsx(tmp_path / "f.xlsx", ["number", "country", "vendor", "sku"],
                [[6566100008.0, "SG", "M1 Trunks", "SG-DID-STD"],
                 [6566100009, "SG", "M1 Trunks", "SG-DID-STD"],
                 ["6566100010.0", "SG", "M1 Trunks", "SG-DID-STD"]])
    summary = import_file(path, actor=ops_user)
    assert summary.imported and summary.created == 3, summary.message()
    assert set(PhoneNumber.objects.values_list("e164", flat=True)) == {
        "+6566100008", "+6566100009", "+6566100010"}


def test_rounded_scientific_notation_is_refused_with_that_reason(tmp_path, sample_catalog, ops_user):
    path = write(tmp_path / "s.csv", [row("6.5657E+09"), row("+6566100011")])
    summary = import_file(path, actor=ops_user)
    assert not summary.imported and PhoneNumber.objects.count() == 0
    [error] = summary.errors
    assert (error.row, error.column) == (2, "number") and "scientific notation" in error.reason


def test_country_that_contradicts_the_number_is_refused(tmp_path, sample_catalog, ops_user):
    path = write(tmp_path / "c.csv", [row("+6566100012", country="MY")])
    summary = import_file(path, actor=ops_user)
    [error] = summary.errors
    assert error.column == "country" and "is in SG" in error.reason


def test_blank_lines_are_skipped_and_row_numbers_stay_the_spreadsheets(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "b.csv"
    path.write_text("number,country,vendor,sku\n+6566100013,SG,M1 Trunks,SG-DID-STD\n\n,,,\n"
                    "+6566100014,SG,Nobody,SG-DID-STD\n")
    summary = import_file(path, actor=ops_user)
    assert summary.rows == 2
    [error] = summary.errors
    assert error.row == 5 and error.column == "vendor"


def test_formula_in_a_text_column_is_stored_as_text(tmp_path, sample_catalog, ops_user):
    path = write(tmp_path / "x.csv", [row("+6566100015", notes="=cmd|'/C calc'!A0", routing="@trunk")])
    assert import_file(path, actor=ops_user).imported
    n = PhoneNumber.objects.get(e164="+6566100015")
    assert n.notes == "=cmd|'/C calc'!A0" and n.routing == "@trunk"  # neutralised on export


def test_formula_in_the_number_column_is_refused(tmp_path, sample_catalog, ops_user):
    path = xlsx(tmp_path / "fx.xlsx", ["number", "country", "vendor", "sku"],
                [["=6566100016+1", "SG", "M1 Trunks", "SG-DID-STD"]])
    summary = import_file(path, actor=ops_user)
    assert not summary.imported and summary.errors[0].column == "number"
    assert PhoneNumber.objects.count() == 0


# --- hostile files: bounded before parsing ----------------------------------------------


def test_oversize_file_is_refused_before_reading(tmp_path, sample_catalog, ops_user, settings):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_BYTES": 1000}
    path = write(tmp_path / "big.csv", [row(f"+65661{i:05d}") for i in range(100)])
    summary = import_file(path, actor=ops_user)
    assert "at most" in summary.file_error and "MB" in summary.file_error
    assert PhoneNumber.objects.count() == 0


def test_too_many_rows_imports_nothing(tmp_path, sample_catalog, ops_user, settings):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_ROWS": 5}
    path = write(tmp_path / "rows.csv", [row(f"+65661{i:05d}") for i in range(6)])
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    assert "more than 5 rows" in summary.file_error and not summary.imported
    assert PhoneNumber.objects.count() == 0


def test_zip_bomb_is_refused_from_the_zip_directory(tmp_path, sample_catalog, ops_user, monkeypatch):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
    assert path.stat().st_size < 1024 * 1024

    def never(*args, **kwargs):
        raise AssertionError("openpyxl must not open a zip bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    summary = import_file(path, actor=ops_user)
    assert "zip bomb" in summary.file_error and "fold" in summary.file_error


def test_total_unzipped_size_is_bounded(tmp_path, sample_catalog, ops_user, settings):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_UNZIPPED_BYTES": 10_000}
    path = xlsx(tmp_path / "ok.xlsx", ["number", "country", "vendor", "sku"],
                [[f"+65661{i:05d}", "SG", "M1 Trunks", "SG-DID-STD"] for i in range(500)])
    summary = import_file(path, actor=ops_user)
    assert "would unpack to" in summary.file_error


def test_not_a_spreadsheet(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"garbage" * 100)
    summary = import_file(path, actor=ops_user)
    assert "not a readable XLSX file" in summary.file_error


def test_empty_file(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert import_file(path, actor=ops_user).file_error == "the file is empty"


def test_binary_junk_as_csv_is_a_clear_file_error(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "junk.csv"
    path.write_bytes(bytes(range(1, 256)) * 10)
    summary = import_file(path, actor=ops_user)
    assert summary.file_error and "missing columns" in summary.file_error


def sample_lines(name: str) -> list[list[str]]:
    with open(SAMPLES / name, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_error_report_has_the_files_columns_then_row_and_reason(tmp_path, sample_catalog, ops_user):
    report = io.StringIO()
    import_file(SAMPLES / "numbers-with-errors.csv", actor=ops_user, error_stream=report)
    rows = list(csv.reader(io.StringIO(report.getvalue())))
    original = sample_lines("numbers-with-errors.csv")
    assert rows[0] == HEADER + ["row", "reason"]
    assert [r[-2] for r in rows[1:]] == [str(i) for i in range(5, 13)]
    for row in rows[1:]:  # each refused row with its own cells, as the file had them
        if row[-2] not in ("6", "12"):
            assert row[:-2] == original[int(row[-2]) - 1]
    assert rows[2][:2] == ["'+65abc", "SG"]  # not a phone number: neutralised like any text
    by_row = {r[-2]: r[-1] for r in rows[1:]}
    assert by_row["5"] == "number: duplicate of row 2 ('+6567000001')"
    assert by_row["7"] == "vendor: unknown vendor 'No Such Vendor'"
    assert rows[-1][0].startswith("'=HYPERLINK")  # not a live formula in Excel
    assert rows[-1][1:-2] == original[11][1:]


def test_a_row_the_rules_refuse_is_reported_with_its_cells(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "state.csv"
    path.write_text("Number,country,vendor,sku,state\n+6566400010,SG,M1 Trunks,SG-DID-STD,deleted\n"
                    "+6566400011,SG,M1 Trunks,SG-DID-STD,available\n", encoding="utf-8")
    report = io.StringIO()
    summary = import_file(path, actor=ops_user, error_stream=report)
    assert summary.refused == 1
    rows = list(csv.reader(io.StringIO(report.getvalue())))
    assert rows[0] == ["Number", "country", "vendor", "sku", "state", "row", "reason"]
    [(*cells, line, reason)] = rows[1:]
    assert (cells, line) == (["+6566400010", "SG", "M1 Trunks", "SG-DID-STD", "deleted"], "2")
    assert reason.startswith("state: ") and "cannot be set by an import" in reason


def test_error_report_of_an_unreadable_file_says_why(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "nohead.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    report = io.StringIO()
    import_file(path, actor=ops_user, error_stream=report)
    rows = list(csv.reader(io.StringIO(report.getvalue())))
    assert rows[0] == ["foo", "bar", "row", "reason"]
    assert rows[1][:3] == ["", "", ""] and rows[1][3].startswith("file: missing columns")


def test_error_report_as_xlsx_is_for_a_person(tmp_path, sample_catalog, ops_user):
    from inventory.imports import error_report_xlsx

    report = io.StringIO()
    import_file(SAMPLES / "numbers-with-errors.csv", actor=ops_user, error_stream=report)
    target = io.BytesIO()
    assert error_report_xlsx(io.BytesIO(report.getvalue().encode("utf-8-sig")), target) == 8
    sheet = openpyxl.load_workbook(io.BytesIO(target.getvalue())).active
    assert [c.value for c in sheet[1]] == HEADER + ["row", "reason"]
    assert all(c.font.bold for c in sheet[1]) and sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:L9"
    assert sheet.column_dimensions["L"].width >= 40
    original = sample_lines("numbers-with-errors.csv")
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[-2] for r in rows] == list(range(5, 13))
    for row in rows:
        assert [c or "" for c in row[:-2]] == original[row[-2] - 1]
    formula = sheet.cell(row=9, column=1)
    assert formula.value == original[11][0] and formula.value.startswith("=HYPERLINK")
    assert formula.data_type == "s" and formula.number_format == "@"  # text, not a formula
    assert sheet.cell(row=2, column=1).value == "+6567000001"


def test_nul_character_is_a_row_error_not_a_crash(tmp_path, sample_catalog, ops_user):
    path = write(tmp_path / "nul.csv", [row("+6566100017", notes="bad\0byte"), row("+6566100018")])
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    assert summary.imported and summary.created == 1
    [error] = summary.errors
    assert (error.row, error.column) == (2, "notes") and "NUL" in error.reason


def test_legacy_xls_has_its_own_smaller_bound(sample_catalog, ops_user, settings):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_XLS_BYTES": 10_000}
    summary = import_file(SAMPLES / "numbers-legacy.xls", actor=ops_user)
    assert "legacy XLS" in summary.file_error and "save it as XLSX or CSV" in summary.file_error
