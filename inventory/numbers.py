"""Phone number text in, E.164 out: normalisation, ranges and search patterns.

Everything that turns what a person or a spreadsheet typed into a stored number lives
here, so the add form, the import and the command line agree on what is valid.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import phonenumbers
from django.db.models import F, Q
from django.db.models.functions import Substr
from django.db.models.lookups import Regex
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

# ASCII digits only (re.ASCII): Python's \d also matches "６" and "٦", which must be mapped to
# ASCII first (ascii_digits) and never stored as typed.
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$", re.ASCII)
SCIENTIFIC_RE = re.compile(r"^[+-]?(\d+)(?:[.,](\d+))?[eE]\+?(\d+)$", re.ASCII)
DECIMAL_ZERO_RE = re.compile(r"^(\+?\d+)[.,]0+$", re.ASCII)
FORMATTING_RE = re.compile(r"[\s\u00a0\u2007\u202f\-‐‑‒–—().\/]")
PATTERN_CLEAN_RE = re.compile(r"[\s\u00a0\-().]")
RANGE_RE = re.compile(r"^\s*(\+?[\d\s().]+?)\s*(?:-|–|\.\.)\s*(\+?[\d\s().]+?)\s*$")
# Full-width punctuation a number may be typed with (an East Asian keyboard) → ASCII.
_FULLWIDTH = str.maketrans({"＋": "+", "－": "-", "（": "(", "）": ")", "．": ".", "　": " ",
                            "＊": "*", "？": "?", "，": ",", "；": ";"})
# Search patterns: bounded so that every pattern answers in bounded time on any database.
MAX_PATTERN_LENGTH = 40  # as typed, spaces and dashes included
MAX_PATTERN_STARS = 4  # "*" after runs are collapsed; "?" is one character and cheap
MAX_INPUT_LENGTH = 64  # one typed number, formatting included

_POSSIBLE_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
}


class NumberError(ValueError):
    """A value that is not a usable phone number; the message is the reason, for people."""


def _valid(parsed: phonenumbers.PhoneNumber) -> str | None:
    """None when valid, else the reason."""
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible in _POSSIBLE_REASONS:
        return _POSSIBLE_REASONS[possible]
    if not phonenumbers.is_valid_number(parsed):
        region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
        return f"not a valid number in {region}"
    return None


_BLOCK_CACHE: dict[tuple[str, int], tuple[str | None, str]] = {}


def _check_parsed(e164: str) -> tuple[str | None, str]:
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException as exc:
        return (str(exc.args[0]) if exc.args else "not a phone number"), ""
    return _valid(parsed), phonenumbers.region_code_for_number(parsed) or ""


def check_e164(e164: str) -> str:
    """Return the region (ISO alpha-2) of a well-formed E.164 string, or raise NumberError.

    Numbering plans decide validity on the leading digits and the length, so the answer
    is cached per 7-digit block and length: ranges and million-row imports parse once per
    block instead of once per number.
    """
    if not E164_RE.match(e164):
        raise NumberError("not in E.164 form (+ and 7 to 15 digits)")
    key = (e164[:8], len(e164))
    cached = _BLOCK_CACHE.get(key)
    if cached is None:
        cached = _check_parsed(e164)
        if len(_BLOCK_CACHE) > 100_000:
            _BLOCK_CACHE.clear()
        _BLOCK_CACHE[key] = cached
    reason, region = cached
    if reason:
        raise NumberError(reason)
    return region


def ascii_digits(text: str) -> str:
    """Map decimal digits of any script (full-width "６５", Arabic-Indic "٦٥", Devanagari …)
    and full-width "+", "-", "(", ")" to ASCII; anything else is left for the caller to refuse."""
    if text.isascii():
        return text
    text = text.translate(_FULLWIDTH)
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch
                   for ch in text)


def _refuse_foreign(text: str) -> None:
    for ch in text:
        if not ch.isascii() and not ch.isspace() and not FORMATTING_RE.match(ch):
            name = unicodedata.name(ch, "unnamed character")
            raise NumberError(f"not a phone number: “{ch}” (U+{ord(ch):04X} {name}) is not a digit")


def _clean_text(raw: object) -> str:
    if raw is None:
        raise NumberError("empty")
    if isinstance(raw, bool):
        raise NumberError("not a phone number")
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        if raw != raw or not raw.is_integer():  # NaN or fractional
            raise NumberError("not a phone number (a fraction)")
        return str(int(raw))
    text = str(raw)
    if len(text) > MAX_INPUT_LENGTH:
        raise NumberError(f"too long to be a phone number ({len(text)} characters)")
    text = ascii_digits(text).strip().strip("'\"").strip()
    if not text:
        raise NumberError("empty")
    _refuse_foreign(text)
    if text[0] in "=@":
        raise NumberError("a formula, not a phone number")
    sci = SCIENTIFIC_RE.match(text.replace(" ", ""))
    if sci:
        whole, frac, exponent = sci.group(1), sci.group(2) or "", int(sci.group(3))
        significant = (whole + frac).lstrip("0")
        if len(whole.lstrip("0")) == 1 and len(significant) == exponent + 1:
            return significant  # every digit survived, e.g. 6.566000001E+09
        raise NumberError(
            f"rounded scientific notation ({text}): the spreadsheet dropped digits; "
            "format the column as text and export again"
        )
    dec = DECIMAL_ZERO_RE.match(text.replace(" ", ""))
    if dec:
        return dec.group(1)
    return text


def normalize(raw: object, country: str | None = None) -> str:
    """Turn one typed or spreadsheet value into E.164, or raise NumberError with the reason.

    Handles `+65 6700 0002`, `6700-0003` (national, with `country`), `006567000001`,
    integer and float cells (`6566000000`, `442079460000.0`) that lost their `+`.
    """
    text = _clean_text(raw)
    compact = FORMATTING_RE.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not re.fullmatch(r"\+?\d+", compact, re.ASCII):
        raise NumberError("not a phone number (only digits, spaces, dashes and a leading + allowed)")
    if compact.startswith("+"):
        region = check_e164(compact) if E164_RE.match(compact) else None
        if region is None:
            raise NumberError("too short" if len(compact) < 8 else "too long")
        return compact
    region_hint = (country or "").upper() or None
    candidates: list[str] = []
    if region_hint:
        try:
            parsed = phonenumbers.parse(compact, region_hint)
        except NumberParseException:
            parsed = None
        if parsed is not None and _valid(parsed) is None:
            return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
        if parsed is not None:
            candidates.append(_valid(parsed) or "")
    # A spreadsheet integer that lost its "+": the country code is already in the digits.
    plus = "+" + compact
    if E164_RE.match(plus):
        try:
            check_e164(plus)
            return plus
        except NumberError as exc:
            candidates.append(str(exc))
    if not region_hint:
        raise NumberError("no country: give one, or write the number with + and country code")
    raise NumberError(candidates[0] if candidates and candidates[0] else "not a phone number")


def region_of(e164: str) -> str:
    return check_e164(e164)


@dataclass
class ParsedSpec:
    numbers: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def expand_range(start: str, end: str, *, country: str | None = None, limit: int | None = None):
    """All numbers from start to end inclusive; both ends the same length and country.
    An end shorter than the start names only the last digits: `+6568791111-222` is
    `+6568791111` to `+6568791222` (JeraSoft writes `111-222`)."""
    first = normalize(start, country)
    last = _range_end(first, end, country)
    if len(first) != len(last):
        raise NumberError(f"range ends differ in length ({first} and {last})")
    if region_of(first) != region_of(last):
        raise NumberError(f"range crosses countries ({first} and {last})")
    low, high = int(first[1:]), int(last[1:])
    if high < low:
        raise NumberError(f"range runs backwards ({first} is after {last})")
    size = high - low + 1
    if limit is not None and size > limit:
        raise NumberError(f"range of {size:,} numbers is over the limit of {limit:,}")
    width = len(first) - 1
    return [f"+{n:0{width}d}" for n in range(low, high + 1)]


def spec_chunks(spec: str, *, country: str | None = None, size: int = 100_000) -> Iterator[str]:
    """The spec again, as pieces of at most `size` numbers each: a long range becomes
    consecutive sub-ranges (its ends checked as expand_range checks them), so a caller can
    add a million-number range piece by piece in constant memory. Other items pass as they
    are, a few to a piece; a bad item is passed on for the parser to refuse with its reason."""
    pending: list[str] = []
    for item in split_items(spec):
        match = RANGE_RE.match(item)
        if match and not _looks_like_dashed_number(item, country):
            try:
                first = normalize(match.group(1), country)
                last = _range_end(first, match.group(2), country)
                low, high = int(first[1:]), int(last[1:])
            except NumberError:
                pending.append(item)
                continue
            if len(first) == len(last) and region_of(first) == region_of(last) and high - low + 1 > size:
                width = len(first) - 1
                for start in range(low, high + 1, size):
                    stop = min(high, start + size - 1)
                    yield f"+{start:0{width}d}-+{stop:0{width}d}"
                continue
        pending.append(item)
        if len(pending) >= 1000:
            yield ",".join(pending)
            pending = []
    if pending:
        yield ",".join(pending)


def _range_end(first: str, end: str, country: str | None) -> str:
    """The range's end as E.164: a number in full, or only its last digits (abbreviated)."""
    digits = re.sub(r"\D", "", end)
    try:
        full = normalize(end, country)
    except NumberError:
        full = ""
    if full and len(full) == len(first):
        return full
    if "+" not in end and 0 < len(digits) < len(first) - 1:
        return first[: len(first) - len(digits)] + digits
    return full or normalize(end, country)


def split_items(spec: str | Iterable[str]) -> list[str]:
    if isinstance(spec, str):
        spec = ascii_digits(spec)  # so that ranges of full-width digits are ranges too
        return [item.strip() for item in re.split(r"[,;\n\r]+", spec) if item.strip()]
    items: list[str] = []
    for part in spec:
        items.extend(split_items(str(part)))
    return items


def parse_spec(
    spec: str | Iterable[str],
    *,
    country: str | None = None,
    max_items: int | None = None,
    max_range: int | None = None,
    max_total: int | None = None,
) -> ParsedSpec:
    """Parse "a, b\\nc-d": single numbers and inclusive ranges, deduplicated, input order kept.

    Bad items are reported in `errors` (item → reason) and do not stop the good ones. Over
    `max_items` entries or `max_total` numbers in all, nothing is parsed: one "(input)" error.
    """
    result = ParsedSpec()
    seen: set[str] = set()
    items = split_items(spec)
    if max_items is not None and len(items) > max_items:
        result.errors["(input)"] = f"{len(items)} entries; at most {max_items} per request"
        return result
    for item in items:
        try:
            match = RANGE_RE.match(item)
            if match and not _looks_like_dashed_number(item, country):
                expanded = expand_range(
                    match.group(1), match.group(2), country=country, limit=max_range
                )
                region = region_of(expanded[0])
                for e164 in expanded:
                    # Ranges are checked per 7-digit block, which is cached.
                    if region_of(e164) != region:
                        raise NumberError(f"{e164} in this range is not a valid number")
            else:
                expanded = [normalize(item, country)]
        except NumberError as exc:
            result.errors[item] = str(exc)
            continue
        for e164 in expanded:
            if e164 not in seen:
                seen.add(e164)
                result.numbers.append(e164)
        if max_total is not None and len(result.numbers) > max_total:
            return ParsedSpec(errors={"(input)": (
                f"more than {max_total:,} numbers in one request; add the rest in another "
                "(manage.py add_numbers has no limit)")})
    return result


def _looks_like_dashed_number(item: str, country: str | None) -> bool:
    """'6700-0003' is one number written with a dash, not a range of two."""
    left, _, right = item.partition("-")
    if "+" in right or len(re.sub(r"\D", "", right)) >= 7:
        return False
    try:
        normalize(item, country)
    except NumberError:
        return False
    return True


MAX_SPELLED_OUT = 100


def prefix_upper_bound(prefix: str) -> str | None:
    """The first string after every number that starts with `prefix` ("+656059" → "+65606")."""
    digits = prefix.rstrip("9")
    if len(digits) < 2 or not digits[-1].isdigit():
        return None
    return digits[:-1] + str(int(digits[-1]) + 1)


def _prefix_q(field_name: str, prefix: str) -> Q:
    """A prefix as a range (`e164 >= "+6560" AND e164 < "+6561"`), which for "+" and
    digits is the same set as startswith: the range lets the e164 btree serve both the
    filter and an ORDER BY e164 (LIKE alone made PostgreSQL walk the index from the start,
    194 ms → 8 ms at 1M rows, or pick the trigram index: 14 ms per prefix)."""
    upper = prefix_upper_bound(prefix)
    if upper:
        return Q(**{f"{field_name}__gte": prefix, f"{field_name}__lt": upper})
    return Q(**{f"{field_name}__startswith": prefix})


# How many rows an ordered walk of the enclosing range may read, per row of the page, where
# numbers are dense: past it the ranges' bitmap (every row under the prefixes) is cheaper.
MAX_WALK_PER_ROW = 100


def _walk_is_short(prefixes: list[str], rest: str) -> bool:
    """Whether one range around all `prefixes` (all the same length, in order) is the
    better access for the glob than their OR, with `rest` still to match after them.

    The ranges' OR serves only a bitmap scan, which reads every row under the prefixes (100k
    at 10M for "+6560?1*9") and sorts the matches; one enclosing range lets PostgreSQL walk
    the (e164) or (state, e164) index in the list's order and stop at the page's end, about
    10^(digits in rest) × (enclosed / spelled-out prefixes) rows per match where numbers
    are dense ("+6560?1*9": 10 × 91/10). PostgreSQL takes that walk even when the rest is
    rare ("+6560?1*234": 920k rows, 375 ms against the bitmap's 100k), hence the bound.
    """
    if len(prefixes) == 1:
        return True
    span = int(prefixes[-1][1:]) - int(prefixes[0][1:]) + 1
    return 10 ** sum(ch.isdigit() for ch in rest) * span / len(prefixes) <= MAX_WALK_PER_ROW


def _span_q(field_name: str, first: str, last: str) -> Q:
    """Every number from the first that starts with `first` to the last that starts with
    `last` (both "+" and digits, the same length)."""
    upper = prefix_upper_bound(last)
    if upper:
        return Q(**{f"{field_name}__gte": first, f"{field_name}__lt": upper})
    shared = os.path.commonprefix([first, last])
    return Q(**{f"{field_name}__gte": first, f"{field_name}__startswith": shared})


def _rest_q(field_name: str, rest: str, known: int) -> Q:
    """The glob's `rest` after its first `known` characters, which the prefix ranges already
    match, as a regex on the rest of the number (Q() when the rest is only "*").

    Tested on a substring, which the trigram index does not cover, and whose estimate is
    the rest's own (PostgreSQL's pattern heuristic, a few % for "*9" after "+6560?1"): the
    whole number's regex was estimated at a few rows when 10% of the rows under the prefixes
    match, so PostgreSQL sorted all of them instead of walking the index to the page's end.
    """
    if rest.strip("*") == "":
        return Q()
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in rest)
    return Q(Regex(Substr(F(field_name), known + 1), f"^{regex}$"))


def pattern_q(pattern: str, field_name: str = "e164") -> Q:
    """A search pattern as an index-friendly filter.

    `+65*`/`*1234`/`+65?0*` glob; `+65…` without wildcard: prefix; digits only: contains.
    A glob that starts with a digit is read as starting after the `+`. A glob's literal
    start also narrows it as a prefix, so `+6560?1*9` scans only `+6560…`.
    """
    if len(pattern or "") > MAX_PATTERN_LENGTH:
        raise NumberError(f"a number pattern is at most {MAX_PATTERN_LENGTH} characters long")
    text = PATTERN_CLEAN_RE.sub("", ascii_digits(pattern or ""))
    if not text:
        return Q()
    if not re.fullmatch(r"\+?[0-9*?]+", text):
        raise NumberError("a number pattern has digits, a leading +, and the wildcards * and ?")
    text = re.sub(r"\*+", "*", text)  # "**" is "*"
    if text.count("*") > MAX_PATTERN_STARS:
        raise NumberError(f"a number pattern has at most {MAX_PATTERN_STARS} “*” wildcards")
    if len(text.replace("*", "").lstrip("+")) > 15:
        raise NumberError("a number pattern is longer than any phone number (15 digits)")
    if "*" in text or "?" in text:
        if text[0].isdigit():
            text = "+" + text
        inner = text.strip("*")
        if "?" not in text and "*" not in inner and inner:
            if text.startswith("*") and text.endswith("*"):
                return Q(**{f"{field_name}__contains": inner})
            if text.endswith("*"):
                return _prefix_q(field_name, inner)
            return Q(**{f"{field_name}__endswith": inner})
        if not inner:
            return Q()
        literal = re.split(r"[*?]", text, maxsplit=1)[0]
        if len(literal) <= 2:  # "+6?…": only the trigram index can help
            regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)
            return Q(**{f"{field_name}__regex": f"^{regex}$"})
        # With a literal start, the btree ranges carry the start and the regex tests only the
        # rest of the number, on an expression the trigram index does not cover (the trigrams
        # of "+6560" match nearly every row; the bitmap plan PostgreSQL sometimes chose took
        # 1.6 s). A "?" before the first "*" is spelled out (at most 100 prefixes), so
        # "+6560?1*9" reads the ten ranges "+656001…" to "+656091…" instead of all "+6560…".
        head = text.split("*", 1)[0]
        prefixes = [head] if "?" in head and 10 ** head.count("?") <= MAX_SPELLED_OUT else [literal]
        while "?" in prefixes[0]:
            prefixes = [p.replace("?", digit, 1) for p in prefixes for digit in "0123456789"]
        if "*" not in text and prefixes != [literal]:
            return Q(**{f"{field_name}__in": prefixes})
        rest = text[len(prefixes[0]):]
        if _walk_is_short(prefixes, rest):
            # One range from the first prefix to past the last (inside the literal's) and
            # the regex from the literal on, the "?"s included: no OR beside it, whose rows
            # PostgreSQL would count as if apart from the range's (an estimate 9 times low).
            return (_span_q(field_name, prefixes[0], prefixes[-1])
                    & _rest_q(field_name, text[len(literal):], len(literal)))
        access = Q()
        for prefix in prefixes:
            access |= _prefix_q(field_name, prefix)
        return access & _rest_q(field_name, rest, len(prefixes[0]))
    if text.startswith("+"):
        return _prefix_q(field_name, text)
    return Q(**{f"{field_name}__contains": text})
