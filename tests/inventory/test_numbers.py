"""inventory.numbers (DESIGN §3 bulk input and search): what people and spreadsheets type
becomes E.164 or a reason; ranges; search patterns matched against real rows."""

from __future__ import annotations

import random
import re

import pytest

from inventory.models import PhoneNumber
from inventory.numbers import (
    NumberError,
    check_e164,
    expand_range,
    normalize,
    parse_spec,
    pattern_q,
    region_of,
)


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("+6560000000", None, "+6560000000"),
    # spreadsheet cells that lost their "+"
    (6566000000, None, "+6566000000"),
    (442079460000.0, None, "+442079460000"),
    ("442079460000.0", None, "+442079460000"),
    ("6566000000", None, "+6566000000"),
    ("6.566000001E+09", None, "+6566000001"),  # every digit survived
    # national formats with the row's or file's country
    ("6700 0003", "SG", "+6567000003"),
    ("6700-0003", "sg", "+6567000003"),
    ("020 7946 0000", "GB", "+442079460000"),
    ("(020) 7946-0000", "GB", "+442079460000"),
    # spaces, dashes, dots, non-breaking spaces, quotes
    ("+65 6700 0002", None, "+6567000002"),
    ("+65-6700-0002", None, "+6567000002"),
    ("+44 20 7946 0000", None, "+442079460000"),
    ("+65\u00a06700\u00a00002", None, "+6567000002"),
    ("  '+6567000002'  ", None, "+6567000002"),
    ("65.6700.0002", None, "+6567000002"),
    # international 00 prefix
    ("006567000001", None, "+6567000001"),
    ("00 44 20 7946 0000", "SG", "+442079460000"),
    # an E.164 number ignores the country hint
    ("+442079460000", "SG", "+442079460000"),
])
def test_normalize(raw, country, expected):
    assert normalize(raw, country) == expected


@pytest.mark.parametrize(("raw", "country", "reason"), [
    ("6.5657E+09", None, "rounded scientific notation (6.5657E+09): the spreadsheet dropped digits"),
    ("6,5657E+09", None, "rounded scientific notation"),
    ("=A1+1", None, "a formula, not a phone number"),
    ("@SUM(A1)", None, "a formula, not a phone number"),
    ("hello", None, "not a phone number"),
    ("+65 6700 000x", None, "not a phone number"),
    ("", None, "empty"),
    ("   ", None, "empty"),
    (None, None, "empty"),
    (True, None, "not a phone number"),
    (6566000000.5, None, "not a phone number (a fraction)"),
    (float("nan"), None, "not a phone number (a fraction)"),
    ("+65 123", None, "too short"),
    ("+65 6700 0002 1234 5678", None, "too long"),
    ("67000003", None, "no country: give one"),
    ("+6512345678", None, "not a valid number in SG"),
    ("1234", "SG", "too short"),
])
def test_normalize_refuses_with_the_reason(raw, country, reason):
    with pytest.raises(NumberError) as exc:
        normalize(raw, country)
    assert str(exc.value).startswith(reason), str(exc.value)


def test_check_e164_and_region():
    assert check_e164("+6560000000") == "SG"
    assert region_of("+442079460000") == "GB"
    assert region_of("+12125550100") == "US"
    for bad in ("6560000000", "+0650000000", "+65", "+65600000000000000"):
        with pytest.raises(NumberError, match="E.164"):
            check_e164(bad)


# --- ranges ---------------------------------------------------------------------------


def test_a_range_is_inclusive():
    assert expand_range("+6560000008", "+6560000011") == [
        "+6560000008", "+6560000009", "+6560000010", "+6560000011"]
    assert expand_range("+6560000000", "+6560000000") == ["+6560000000"]
    assert expand_range("6000 0000", "6000 0002", country="SG") == [
        "+6560000000", "+6560000001", "+6560000002"]


@pytest.mark.parametrize(("start", "end", "limit", "reason"), [
    ("+6560000009", "+6560000000", None, "range runs backwards (+6560000009 is after +6560000000)"),
    ("+4930123456", "+49301234567", None, "range ends differ in length"),
    ("+6560000000", "+6621234567", None, "range crosses countries (+6560000000 and +6621234567)"),
    ("+6560000000", "+6560000100", 100, "range of 101 numbers is over the limit of 100"),
    ("+6560000000", "nonsense", None, "not a phone number"),
])
def test_bad_ranges(start, end, limit, reason):
    with pytest.raises(NumberError) as exc:
        expand_range(start, end, limit=limit)
    assert str(exc.value).startswith(reason), str(exc.value)


def test_the_limit_is_inclusive():
    assert len(expand_range("+6560000000", "+6560000099", limit=100)) == 100


def test_parse_spec_mixes_singles_ranges_and_errors():
    parsed = parse_spec(
        "+6560000000, +6560000001\n+6560000001-+6560000003;6700-0003\r\nbad\n\n,6.5657E+09",
        country="SG",
    )
    assert parsed.numbers == ["+6560000000", "+6560000001", "+6560000002", "+6560000003",
                              "+6567000003"]
    assert set(parsed.errors) == {"bad", "6.5657E+09"}


def test_parse_spec_national_range_and_spaced_dash():
    assert parse_spec("6000 0000 - 6000 0002", country="SG").numbers == [
        "+6560000000", "+6560000001", "+6560000002"]
    assert parse_spec("+6560000000 – +6560000001").numbers == ["+6560000000", "+6560000001"]
    assert parse_spec("6560000000-6560000001").numbers == ["+6560000000", "+6560000001"]


def test_parse_spec_limits():
    assert parse_spec("+6560000000,+6560000001,+6560000002", max_items=2).errors == {
        "(input)": "3 entries; at most 2 per request"}
    assert parse_spec("+6560000000-+6560010000", max_range=10_000).errors == {
        "+6560000000-+6560010000": "range of 10,001 numbers is over the limit of 10,000"}
    # the command line has no range limit
    assert len(parse_spec("+6560000000-+6560020000").numbers) == 20_001


# --- search patterns on real rows -----------------------------------------------------

ROWS = ["+6560001234", "+6561231234", "+6560000000", "+6565000001", "+442079461234",
        "+12125550165", "+6590000065"]


@pytest.fixture
def rows(vendor, sku, now):
    from inventory.services import number_add

    result = number_add(numbers=ROWS, vendor=vendor, sku=sku, actor=None, now=now)
    assert not result.rejected, result.rejected


def matched(pattern: str) -> list[str]:
    return sorted(PhoneNumber.objects.filter(pattern_q(pattern)).values_list("e164", flat=True))


@pytest.mark.parametrize(("pattern", "expected"), [
    ("+65*", ["+6560000000", "+6560001234", "+6561231234", "+6565000001", "+6590000065"]),
    ("65*", ["+6560000000", "+6560001234", "+6561231234", "+6565000001", "+6590000065"]),
    ("*1234", ["+442079461234", "+6560001234", "+6561231234"]),
    ("+65", ["+6560000000", "+6560001234", "+6561231234", "+6565000001", "+6590000065"]),
    ("+656", ["+6560000000", "+6560001234", "+6561231234", "+6565000001"]),
    # digits only: contains, anywhere
    ("65", ["+12125550165", "+6560000000", "+6560001234", "+6561231234", "+6565000001",
            "+6590000065"]),
    ("1234", ["+442079461234", "+6560001234", "+6561231234"]),
    ("+65?0*", ["+6560000000", "+6560001234", "+6590000065"]),
    ("+6?6?*4", ["+6560001234", "+6561231234"]),
    ("*12*34", ["+442079461234", "+6560001234", "+6561231234"]),
    ("*000*", ["+6560000000", "+6560001234", "+6565000001", "+6590000065"]),
    ("+65 6000 1234", ["+6560001234"]),
    ("+1?12*", ["+12125550165"]),
    ("+44", ["+442079461234"]),
    ("+7", []),
])
def test_patterns_match_the_right_rows(rows, pattern, expected):
    assert matched(pattern) == expected


def test_an_empty_pattern_matches_everything(rows):
    assert matched("") == sorted(ROWS)
    assert matched("*") == sorted(ROWS)


@pytest.mark.parametrize("pattern", ["abc", "+65%", "65_", "+65[0-9]", "'; drop table"])
def test_a_bad_pattern_is_refused(pattern):
    with pytest.raises(NumberError, match="a number pattern has digits"):
        pattern_q(pattern)


GLOB_ROWS = sorted({
    *(f"+6560{n:06d}" for n in random.Random(7).sample(range(1_000_000), 300)),
    "+6560009999", "+6560010000", "+6560019999", "+6560910000", "+6560919999", "+6560920000",
    "+6569999999", "+6561234567", "+6560551123", "+6560310501", "+6590000065", "+442079464567",
    "+12125550123",
})


def glob_by_hand(pattern: str) -> re.Pattern[str]:
    """What a glob means, as a plain regex over the whole number."""
    text = pattern if pattern.startswith(("+", "*", "?")) else "+" + pattern
    return re.compile("".join(".*" if ch == "*" else "[0-9]" if ch == "?" else re.escape(ch)
                              for ch in text))


@pytest.mark.parametrize("pattern", [
    "+6560?1*9", "6560?1*9", "+6560?1*", "+6560?1*9?", "+6560??99*", "+6560???1*", "+6560?1??99",
    "+656051*", "+65*123", "*4567", "+65609?*", "+6569?9*", "+656?9*9", "+65?0*", "*0*0*1?0*",
    "+6560?1*0*1", "+44*4567",
])
def test_globs_find_exactly_what_a_plain_regex_finds(vendor, sku, now, pattern):
    """The index-friendly form of a glob (spelled-out prefixes, an enclosing range, a regex on
    the rest) selects the same numbers as the glob read as a regex over every row."""
    from inventory.services import number_add

    result = number_add(numbers=GLOB_ROWS, vendor=vendor, sku=sku, actor=None, now=now)
    assert not result.rejected, result.rejected
    expected = [e164 for e164 in GLOB_ROWS if glob_by_hand(pattern).fullmatch(e164)]
    assert expected, pattern  # every pattern here matches something in GLOB_ROWS
    assert matched(pattern) == expected
