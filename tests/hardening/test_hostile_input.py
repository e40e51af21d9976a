"""Hostile and unusual input: numbers in other scripts' digits, patterns with many wildcards,
query strings the admin was not built for, and an export that matches nothing."""

from __future__ import annotations

import csv
import io
import time
import zipfile

import pytest
from django.test import Client

from inventory.imports import import_file
from inventory.models import PhoneNumber
from inventory.numbers import MAX_PATTERN_STARS, NumberError, normalize, parse_spec, pattern_q

pytestmark = pytest.mark.django_db
CL = "/admin/inventory/phonenumber/"


@pytest.mark.parametrize("typed", [
    "＋６５ ６７００ ０００２",  # full-width digits and plus
    "+٦٥٦٧٠٠٠٠٠٢",  # Arabic-Indic
    "+۶۵۶۷۰۰۰۰۰۲",  # Extended Arabic-Indic (Persian)
    "+६५६७००००0२",  # Devanagari, one ASCII zero among them
    "６７００－０００２",  # national, full-width dash
])
def test_digits_of_other_scripts_become_ascii_e164(typed):
    e164 = normalize(typed, "SG")
    assert e164 == "+6567000002" and e164.isascii()


@pytest.mark.parametrize("typed, reason", [
    ("+65 6700 000²", "U+00B2"),  # a superscript two is not a digit
    ("+65 67OO 0002", "not a phone number"),  # letters O
    ("+65 6700 ①002", "U+2460"),  # circled digit
    ("+" + "6" * 500, "too long"),
])
def test_look_alike_characters_are_refused_with_a_reason(typed, reason):
    with pytest.raises(NumberError, match=reason.replace("+", r"\+")):
        normalize(typed, "SG")


def test_a_range_typed_in_full_width_digits_is_a_range():
    parsed = parse_spec("＋６５６７００００００－＋６５６７０００００２", country="SG")
    assert parsed.numbers == ["+6567000000", "+6567000001", "+6567000002"] and not parsed.errors


def test_import_preview_and_import_agree_on_non_ascii_digits(tmp_path, sample_catalog, ops_user):
    path = tmp_path / "intl.csv"
    path.write_text("number,country,vendor,sku\n"
                    "＋６５６７００００１１,SG,M1 Trunks,SG-DID-STD\n"
                    "+٦٥٦٧٠٠٠٠١٢,SG,M1 Trunks,SG-DID-STD\n"
                    "+65670000²3,SG,M1 Trunks,SG-DID-STD\n", encoding="utf-8")
    preview = import_file(path, actor=ops_user, all_or_nothing=False, dry_run=True)
    done = import_file(path, actor=ops_user, all_or_nothing=False)
    assert (preview.created, preview.refused) == (done.created, done.refused) == (2, 1)
    assert [str(e) for e in preview.errors] == [str(e) for e in done.errors]
    assert "U+00B2" in str(done.errors[0]) and "row 4" in str(done.errors[0])
    assert set(PhoneNumber.objects.values_list("e164", flat=True)) == {"+6567000011", "+6567000012"}


def test_the_admin_search_takes_full_width_digits(make_numbers, ops_user):
    make_numbers(1, start="+6567000002")
    client = Client()
    client.force_login(ops_user)
    page = client.get(CL, {"q": "＋６５６７＊"}).content.decode()
    assert "+6567000002" in page


@pytest.mark.parametrize("pattern, reason", [
    ("*1*2*3*4*5*6*", f"at most {MAX_PATTERN_STARS}"),
    ("+65" + "?" * 20, "longer than any phone number"),
    ("*" * 41, "at most 40 characters"),
])
def test_patterns_beyond_the_bounds_are_refused_with_a_reason(pattern, reason):
    with pytest.raises(NumberError, match=reason):
        pattern_q(pattern)


def test_runs_of_stars_count_once():
    assert pattern_q("+65****1") == pattern_q("+65*1")


def test_the_worst_allowed_pattern_answers_quickly(make_numbers, ops_user):
    """Four stars and question marks on both databases: bounded backtracking per row."""
    make_numbers(300, start="+6560001000")
    started = time.perf_counter()
    found = PhoneNumber.objects.filter(pattern_q("*0*0*1?0*")).count()
    assert found > 0
    assert time.perf_counter() - started < 5  # generous: a catastrophic regex takes minutes
    client = Client()
    client.force_login(ops_user)
    refused = client.get(CL, {"q": "*1*2*3*4*5*6*7*8*9*"})
    assert refused.status_code == 200
    assert "at most 4" in " ".join(str(m) for m in refused.context["messages"])


@pytest.mark.parametrize("query", [
    "e164__regex=[", "e164__iregex=(a", "notes__regex=*", "e164=%00", "q=%00", "q=+65%00*",
    "tags=%00", "nosuchfield=1", "vendor__name__regex=[", "e164__in=%00,x", "id__gt=abc",
    "expires_at__gte=not-a-date", "state=%00", "p=-1", "o=%00", "p=999999999999999999999",
])
def test_odd_query_strings_on_the_numbers_list_never_give_a_500(ops_user, make_numbers, query):
    make_numbers(2)
    client = Client(raise_request_exception=False)
    client.force_login(ops_user)
    response = client.get(f"{CL}?{query}")
    assert response.status_code in (200, 302, 400), (query, response.status_code)
    if response.status_code == 302:  # the list again, with a message (or Django's "?e=1")
        again = client.get(response["Location"])
        assert again.status_code == 200
    if "regex" in query or "%00" in query:
        assert response.status_code == 302 and response["Location"] == CL
        assert "its filters were ignored" in " ".join(str(m) for m in again.context["messages"])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_that_matches_nothing_completes(ops_user, make_numbers, fmt):
    from django.contrib.auth.models import Permission

    ops_user.user_permissions.add(*Permission.objects.filter(codename__in=["export_phonenumber",
                                                                          "view_phonenumber"]))
    make_numbers(2)
    client = Client()
    client.force_login(ops_user)
    response = client.get(f"{CL}export/{fmt}/", {"q": "+4420*"})
    assert response.status_code == 200, response.content[:300]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert len(rows) == 1 and "e164" in [c.lower() for c in rows[0]] or "number" in rows[0][0].lower()
    else:
        from openpyxl import load_workbook

        assert zipfile.is_zipfile(io.BytesIO(body))
        sheet = load_workbook(io.BytesIO(body), read_only=True).active
        assert len(list(sheet.iter_rows(values_only=True))) == 1  # the header alone
