"""Export: columns, formula neutralisation (CSV and XLSX), and the admin's export of exactly its list."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from inventory.exports import HEADER, csv_chunks, neutralise, write_xlsx
from inventory.models import PhoneNumber
from inventory.services import number_assign, number_reserve

pytestmark = pytest.mark.django_db

HOSTILE = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"]  # and NUL: PostgreSQL cannot store it


@pytest.fixture
def numbers(make_numbers, customer, service, ops_user):
    made = make_numbers(10, start="+6566700000", notes="plain")
    for n, text in zip(made[1:], HOSTILE, strict=False):
        n.notes = text
        n.routing = text
        n.save()
    number_reserve(numbers=made[8:9], organization=customer, actor=ops_user, remark="hold",
                   reserved_for="alice")
    number_assign(numbers=made[9:10], subscription=service, actor=ops_user, remark="go")
    return made


def parse_csv(data: bytes | str) -> list[dict[str, str]]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_neutralise():
    for text in [*HOSTILE, "\0NUL"]:
        assert neutralise(text) == "'" + text
    assert neutralise("plain") == "plain" and neutralise("") == ""
    assert neutralise("a=b") == "a=b"


def test_csv_export_columns_and_neutralisation(numbers, customer, service):
    rows = parse_csv(b"".join(csv_chunks(PhoneNumber.objects.order_by("e164"))))
    assert list(rows[0]) == HEADER
    assert [r["number"] for r in rows] == [n.e164 for n in numbers]  # the + is kept, never neutralised
    by_number = {r["number"]: r for r in rows}
    for n, text in zip(numbers[1:], HOSTILE, strict=False):
        assert by_number[n.e164]["notes"] == "'" + text
        assert by_number[n.e164]["routing"] == "'" + text
    reserved = by_number[numbers[8].e164]
    assert (reserved["state"], reserved["organization"], reserved["organization_uuid"],
            reserved["reserved_for"]) == ("reserved", customer.name, str(customer.uuid), "alice")
    assert reserved["expires_at"]
    assigned = by_number[numbers[9].e164]
    assert (assigned["subscription"], assigned["package"], assigned["organization"]) == (
        str(service.uuid), service.plan, customer.name)
    plain = by_number[numbers[0].e164]
    assert (plain["vendor"], plain["sku"], plain["capabilities"], plain["golden"]) == (
        "Singtel Wholesale", "SG-DID-STD", "voice", "no")


def test_xlsx_export_number_is_text_and_formulas_are_neutralised(tmp_path, numbers):
    path = tmp_path / "x.xlsx"
    assert write_xlsx(PhoneNumber.objects.order_by("e164"), str(path)) == 10
    sheet = openpyxl.load_workbook(path).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header == HEADER
    notes_col = header.index("notes")
    for row, n in zip(sheet.iter_rows(min_row=2), numbers, strict=True):
        assert row[0].value == n.e164 and row[0].data_type == "s" and row[0].number_format == "@"
        assert row[notes_col].data_type == "s"  # never a formula cell
    values = [[c.value for c in r] for r in sheet.iter_rows(min_row=3, max_row=9)]
    # XML reads CR back as LF; what matters is the leading quote.
    assert [v[notes_col] for v in values][:6] == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tTAB", "'\nCR"]


def test_nul_is_neutralised_and_kept_out_of_xml(tmp_path, make_numbers):
    from django.db import connection

    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL text cannot hold NUL, so no stored number has one")
    [n] = make_numbers(1, start="+6566700100")
    n.notes = "\0=cmd"
    n.save()
    rows = parse_csv(b"".join(csv_chunks(PhoneNumber.objects.all())))
    assert rows[0]["notes"] == "'\0=cmd"
    path = tmp_path / "nul.xlsx"
    write_xlsx(PhoneNumber.objects.all(), str(path))
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert sheet.cell(row=2, column=HEADER.index("notes") + 1).value == "'=cmd"


# --- the admin ---------------------------------------------------------------------------


def export_url(fmt: str, query: str = "") -> str:
    url = reverse("admin:inventory_phonenumber_export", args=[fmt])
    return f"{url}?{query}" if query else url


def test_admin_export_is_exactly_the_change_list(client, ops_user, numbers, make_numbers):
    make_numbers(5, start="+6566800000")
    client.force_login(ops_user)
    query = "state=available&q=%2B65667*"
    response = client.get(export_url("csv", query))
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = parse_csv(b"".join(response.streaming_content))
    exported = [r["number"] for r in rows]
    expected = list(PhoneNumber.objects.filter(state="available", e164__startswith="+65667")
                    .order_by("e164").values_list("e164", flat=True))
    assert exported == expected and len(expected) == 8  # not the reserved, assigned or +65668 ones
    page = client.get(reverse("admin:inventory_phonenumber_changelist") + "?" + query)
    shown = [n for n in expected if n in page.content.decode()]
    assert shown == exported
    assert not any(n.e164 in page.content.decode() for n in numbers[8:])


def test_admin_export_with_a_filter_and_xlsx(client, ops_user, numbers):
    client.force_login(ops_user)
    response = client.get(export_url("xlsx", "state=reserved"))
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in rows] == [numbers[8].e164]


def test_change_list_has_import_and_export_buttons_with_the_query(client, ops_user, numbers):
    client.force_login(ops_user)
    page = client.get(reverse("admin:inventory_phonenumber_changelist") + "?state=reserved&q=%2B6566")
    html = page.content.decode()
    assert 'id="import-numbers-link"' in html
    assert export_url("csv") + "?state=reserved&amp;q=%2B6566" in html
    assert 'id="export-xlsx-link"' in html
    assert 'class="state-tabs"' in html  # the admin's own change list template is still in use


def test_export_and_import_need_their_own_permissions(client, numbers):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    reader = get_user_model().objects.create_user("reader", password="pw", is_staff=True)
    reader.groups.add(Group.objects.get(name="Ops read-only"))
    client.force_login(reader)
    assert client.get(reverse("admin:inventory_phonenumber_changelist")).status_code == 200
    assert client.get(export_url("csv")).status_code == 403
    assert client.get(reverse("admin:inventory_phonenumber_import")).status_code == 403
    html = client.get(reverse("admin:inventory_phonenumber_changelist")).content.decode()
    assert "import-numbers-link" not in html and "export-csv-link" not in html


def test_unknown_export_format(client, ops_user):
    client.force_login(ops_user)
    assert client.get(export_url("pdf")).status_code == 404


@pytest.mark.postgres
def test_postgres_copy_export_equals_the_python_formatting(numbers, make_numbers):
    """PostgreSQL formats the cells itself (COPY); it must write what the Python path writes."""
    from inventory.exports import _python_rows, text_rows

    [odd] = make_numbers(1, start="+6566700200", notes='multi\nline, "quoted"', tags=["=x", "b"],
                         routing="-r")
    qs = PhoneNumber.objects.order_by("e164")
    copied = b"".join(csv_chunks(qs)).decode("utf-8").lstrip("\ufeff")
    assert list(csv.reader(io.StringIO(copied, newline=""))) == [HEADER, *_python_rows(qs)]
    assert [list(r) for r in text_rows(qs)] == list(_python_rows(qs))
    assert "'=x;b" in copied and odd.e164 in copied


def test_admin_xlsx_export_is_bounded(client, ops_user, numbers, settings):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "EXPORT_XLSX_MAX_ROWS": 5}
    client.force_login(ops_user)
    response = client.get(export_url("xlsx", "state=available"))
    assert response.status_code == 302 and "state=available" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert "too many for an XLSX download" in page
    assert client.get(export_url("csv", "state=available")).status_code == 200


def test_a_control_character_cannot_unmask_a_formula_in_xlsx(tmp_path, make_numbers):
    """XML drops control characters; the cell is neutralised after that, not before."""
    [n] = make_numbers(1, start="+6566700200")
    n.notes = '\x01=HYPERLINK("http://evil.example","x")'
    n.save()  # test set-up only
    path = tmp_path / "ctrl.xlsx"
    write_xlsx(PhoneNumber.objects.filter(pk=n.pk), str(path))
    cell = openpyxl.load_workbook(path).worksheets[0].cell(row=2, column=HEADER.index("notes") + 1)
    assert cell.data_type == "s"
    assert cell.value == '\'=HYPERLINK("http://evil.example","x")'
