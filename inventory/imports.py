"""Reading import files: bounded before parsing, streamed, checked cell by cell.

This module turns a CSV, XLSX or XLS file into checked rows (`services.ImportRow`) and
feeds them to `services.numbers_import` in chunks; the rules about what a row may change
live there. A million-row file is never held in memory: rows are read as a stream,
checked, diffed against the database one chunk at a time and written set-wise.

Row numbers are the spreadsheet's: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import logging
import os
import re
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import phonenumbers
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from subscriptions.choices import OrganizationKind
from subscriptions.models import Organization, Subscription

from . import services
from .choices import CAPABILITIES, NumberState
from .exports import neutralise
from .models import PhoneNumber, Sku, Vendor
from .numbers import E164_RE, NumberError, check_e164, normalize

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
KEEP_ERRORS = 1000  # kept in memory for the preview; the error file has them all
MB = 1024 * 1024

# Header names as people write them → the column they mean.
HEADER_ALIASES = {
    "number": "number", "e164": "number", "phone_number": "number", "phone": "number",
    "did": "number",
    "country": "country", "country_code": "country",
    "vendor": "vendor", "operator": "vendor",
    "sku": "sku", "sku_code": "sku",
    "state": "state", "status": "state",
    "capabilities": "capabilities", "capability": "capabilities",
    "routing": "routing",
    "golden": "golden", "is_golden": "golden",
    "ported_in": "ported_in", "is_ported_in": "ported_in", "ported": "ported_in",
    "tags": "tags",
    "notes": "notes",
    "visible_to": "visible_to",
    "reserved_for": "reserved_for",
    "expires_at": "expires_at", "expires": "expires_at", "ends": "expires_at",
    "organization": "organization", "owner": "organization",
    "organization_uuid": "organization_uuid", "owner_uuid": "organization_uuid",
    "subscription": "subscription", "subscription_uuid": "subscription",
}
REQUIRED = ("number", "vendor", "sku")  # and country, unless a default country is given
TRUE = {"yes", "y", "true", "t", "1", "on", "x"}
FALSE = {"no", "n", "false", "f", "0", "off"}
CAPABILITY_SPLIT = re.compile(r"[;,|/\s]+")
MAX_LENGTHS = {"routing": 100, "tags": 500, "reserved_for": 150}


class ImportFileError(Exception):
    """The file as a whole cannot be imported (size, format, header); nothing was changed."""


def limits() -> dict[str, int]:
    conf = settings.NUMBERMGMT
    max_bytes = int(conf.get("IMPORT_MAX_BYTES", 200 * MB))
    return {
        "max_bytes": max_bytes,
        "max_rows": int(conf.get("IMPORT_MAX_ROWS", 2_000_000)),
        "background_rows": int(conf.get("IMPORT_BACKGROUND_ROWS", 5000)),
        # An XLSX is a zip: checked from its directory before anything is inflated.
        "max_unzipped_bytes": int(conf.get("IMPORT_MAX_UNZIPPED_BYTES", max(1024 * MB, max_bytes))),
        "max_inflate_ratio": int(conf.get("IMPORT_MAX_INFLATE_RATIO", 100)),
        "max_xls_bytes": int(conf.get("IMPORT_MAX_XLS_BYTES", 64 * MB)),
    }


# --- errors and the summary ------------------------------------------------------------


@dataclass(slots=True)
class RowError:
    row: int
    column: str
    reason: str
    value: str = ""

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.reason}" + (
            f" ({self.value!r})" if self.value else ""
        )


@dataclass
class ImportSummary:
    """What an import (or its preview) did or would do."""

    name: str
    dry_run: bool = False
    all_or_nothing: bool = True
    rows: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    refused: int = 0  # rows
    error_count: int = 0  # errors (a row may have several)
    errors: list[RowError] = field(default_factory=list)  # the first KEEP_ERRORS
    ignored_columns: list[str] = field(default_factory=list)
    file_error: str = ""
    imported: bool = False
    seconds: float = 0.0

    @property
    def valid(self) -> int:
        return self.created + self.changed + self.unchanged

    def message(self) -> str:
        if self.file_error:
            return f"{self.name}: nothing imported: {self.file_error}"
        counts = (f"{self.rows:,} rows: {self.created:,} new, {self.changed:,} changed, "
                  f"{self.unchanged:,} unchanged, {self.refused:,} refused")
        if self.dry_run:
            verdict = "preview, nothing written"
        elif self.imported:
            verdict = "imported" if not self.refused else "valid rows imported, refused rows skipped"
        else:
            verdict = "nothing imported (all or nothing: fix the refused rows, or import only the valid ones)"
        ignored = f"; ignored columns: {', '.join(self.ignored_columns)}" if self.ignored_columns else ""
        return f"{self.name}: {verdict}. {counts}{ignored}."


# --- bounds and formats -----------------------------------------------------------------


def sniff_kind(path: str | Path) -> str:
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    return "csv"


def check_size(size: int) -> None:
    bound = limits()["max_bytes"]
    if size > bound:
        raise ImportFileError(f"the file is {size / MB:,.1f} MB; at most {bound / MB:,.0f} MB")
    if size == 0:
        raise ImportFileError("the file is empty")


def check_zip(path: str | Path) -> None:
    """Refuse a zip bomb from the zip directory alone, before any member is inflated.

    Python's zipfile never inflates a member past the size its directory declares, so
    checking the declared sizes bounds what openpyxl can unpack.
    """
    bounds = limits()
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError(f"not a readable XLSX file ({exc})") from None
    if len(members) > 10_000:
        raise ImportFileError(f"the spreadsheet holds {len(members):,} parts; a real one has a few dozen")
    total = sum(m.file_size for m in members)
    if total > bounds["max_unzipped_bytes"]:
        raise ImportFileError(
            f"the spreadsheet would unpack to {total / MB:,.0f} MB; at most "
            f"{bounds['max_unzipped_bytes'] / MB:,.0f} MB"
        )
    ratio = bounds["max_inflate_ratio"]
    for member in members:
        if member.file_size > MB and member.file_size > ratio * max(member.compress_size, 1):
            raise ImportFileError(
                f"the spreadsheet part {member.filename} inflates "
                f"{member.file_size / max(member.compress_size, 1):,.0f}-fold (at most {ratio}-fold "
                "is accepted): this looks like a zip bomb"
            )


def check_file(path: str | Path) -> str:
    """Size and (XLSX) inflate bounds; returns the format ("csv", "xlsx" or "xls")."""
    size = os.path.getsize(path)
    check_size(size)
    kind = sniff_kind(path)
    if kind == "xlsx":
        check_zip(path)
    elif kind == "xls" and size > limits()["max_xls_bytes"]:
        # xlrd reads a whole workbook into memory; a real one (65,536 rows at most) is small.
        raise ImportFileError(f"a legacy XLS file of {size / MB:,.0f} MB; at most "
                              f"{limits()['max_xls_bytes'] / MB:,.0f} MB (save it as XLSX or CSV)")
    return kind


def detect_encoding(path: str | Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 / Latin-1."""
    return _scan(path)[0]


def _scan(path: str | Path) -> tuple[str, bool]:
    """(encoding, whether the file holds a NUL byte): one pass over the bytes."""
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", True
        else:
            encoding = "utf-8"
        f.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        nul = False
        try:
            while block := f.read(MB):
                nul = nul or b"\0" in block
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return encoding, nul
        except UnicodeDecodeError:
            pass
        f.seek(0)
        decoder = codecs.getincrementaldecoder("cp1252")()
        try:
            while block := f.read(MB):
                nul = nul or b"\0" in block
                decoder.decode(block)
            return "cp1252", nul
        except UnicodeDecodeError:
            return "latin-1", True


def sniff_delimiter(first_line: str) -> str:
    """The delimiter the header line uses: headers never contain one, so count them."""
    counts = {d: 0 for d in (",", ";", "\t", "|")}
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def estimate_rows(path: str | Path, kind: str | None = None) -> int:
    """A cheap upper bound of the data rows, to choose between now and the background."""
    kind = kind or sniff_kind(path)
    if kind == "csv":
        lines, last = 0, b"\n"
        with open(path, "rb") as f:
            while block := f.read(4 * MB):
                lines += block.count(b"\n")
                last = block[-1:]
        if last != b"\n":
            lines += 1  # a last line without newline
        return max(lines - 1, 0)
    with open_table(path, kind) as table:
        return max((table.declared_rows or 1) - 1, 0)


@dataclass
class Table:
    kind: str
    rows: Iterator[tuple[int, list[Any]]]  # (spreadsheet row number, cells), header included
    declared_rows: int | None = None
    nul_possible: bool = True  # False when the reader knows no cell can hold a NUL


@contextmanager
def open_table(path: str | Path, kind: str | None = None) -> Iterator[Table]:
    kind = kind or sniff_kind(path)
    if kind == "xlsx":
        with _open_xlsx(path) as table:
            yield table
    elif kind == "xls":
        yield _open_xls(path)
    else:
        with _open_csv(path) as table:
            yield table


@contextmanager
def _open_csv(path) -> Iterator[Table]:
    encoding, nul = _scan(path)
    with open(path, encoding=encoding, newline="") as stream:
        first = stream.readline(64 * 1024)
        stream.seek(0)
        reader = csv.reader(stream, delimiter=sniff_delimiter(first))

        def rows():
            try:
                yield from enumerate(reader, start=1)
            except csv.Error as exc:
                raise ImportFileError(f"not a readable CSV file near line {reader.line_num}: {exc}") from None

        yield Table("csv", rows(), nul_possible=nul)


@contextmanager
def _open_xlsx(path) -> Iterator[Table]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or hostile file
        raise ImportFileError(f"not a readable XLSX file ({type(exc).__name__}: {exc})") from None
    try:
        if not workbook.worksheets:
            raise ImportFileError("the spreadsheet has no sheet")
        sheet = workbook.worksheets[0]
        declared = sheet.max_row
        # The declared dimension may lie; do not let openpyxl pad rows up to it.
        sheet.reset_dimensions()

        def rows():
            try:
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                    yield number, list(values)
            except ImportFileError:
                raise
            except Exception as exc:
                raise ImportFileError(f"not a readable XLSX file ({type(exc).__name__}: {exc})") from None

        yield Table("xlsx", rows(), declared_rows=declared, nul_possible=False)  # XML has no NUL
    finally:
        workbook.close()


def _open_xls(path) -> Table:
    import xlrd

    try:
        book = xlrd.open_workbook(path, on_demand=True)
        sheet = book.sheet_by_index(0)
    except Exception as exc:
        raise ImportFileError(f"not a readable XLS file ({type(exc).__name__}: {exc})") from None

    def cell(c) -> Any:
        if c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
            return None
        if c.ctype == xlrd.XL_CELL_DATE:
            try:
                return xlrd.xldate.xldate_as_datetime(c.value, book.datemode)
            except Exception:
                return c.value
        if c.ctype == xlrd.XL_CELL_BOOLEAN:
            return bool(c.value)
        if c.ctype == xlrd.XL_CELL_ERROR:
            return xlrd.error_text_from_code.get(c.value, "#ERROR")
        return c.value

    def rows():
        try:
            for r in range(sheet.nrows):
                yield r + 1, [cell(c) for c in sheet.row(r)]
        finally:
            book.release_resources()

    return Table("xls", rows(), declared_rows=sheet.nrows)


# --- cells ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = _text(value).lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    else:
        text = _text(value)
        parsed = parse_datetime(text) or (
            dt.datetime.combine(d, dt.time()) if (d := parse_date(text)) else None
        )
        if parsed is None:
            raise ValueError
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


class RowChecker:
    """Checks one row's cells and turns them into a services.ImportRow, or row errors."""

    def __init__(self, header: list[Any], *, country: str | None):
        self.columns: dict[str, int] = {}
        self.ignored: list[str] = []
        for index, raw in enumerate(header):
            name = re.sub(r"[\s\-]+", "_", _text(raw).lstrip("\ufeff").lower()).strip("_")
            if not name:
                continue
            key = HEADER_ALIASES.get(name)
            if key is None:
                self.ignored.append(_text(raw))
                continue
            if key in self.columns:
                raise ImportFileError(f"the column {key!r} appears twice in the header")
            self.columns[key] = index
        self.default_country = (country or "").strip().upper() or None
        missing = [c for c in REQUIRED if c not in self.columns]
        if "country" not in self.columns and not self.default_country:
            missing.insert(1, "country")
        if missing:
            raise ImportFileError(
                f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                f"(the header row has: {', '.join(_text(h) for h in header if _text(h)) or 'nothing'})"
            )
        self.vendors = {name.casefold(): pk for pk, name in Vendor.objects.values_list("pk", "name")}
        self.skus = {code.casefold(): pk for pk, code in Sku.objects.values_list("pk", "code")}
        self.seen: dict[int, int] = {}
        self._partners: dict[str, int | None] = {}
        self._orgs: dict[str, Organization | None] = {}
        self._subs: dict[str, Subscription | None] = {}
        self.width = max(self.columns.values()) + 1
        self.number_index = self.columns["number"]
        self.country_index = self.columns.get("country")
        self.converters = self._converters()
        self.converter_indexes = [index for index, _, _, _ in self.converters]
        self.combos: dict[tuple, tuple[dict[str, Any], list[tuple[str, str, str]]]] = {}
        self.nul_possible = True  # a reader that knows better (no NUL byte in the file) clears it

    def has(self, key: str) -> bool:
        return key in self.columns

    # Lookups of the few distinct values a file names, cached per file.

    def partner(self, value: str) -> int | None:
        key = value.casefold()
        if key not in self._partners:
            partners = Organization.objects.filter(kind=OrganizationKind.PARTNER)
            found = None
            if _is_uuid(value):
                found = partners.filter(uuid=value).values_list("pk", flat=True).first()
            if found is None:
                found = partners.filter(domain__iexact=value).values_list("pk", flat=True).first()
            self._partners[key] = found
        return self._partners[key]

    def organization(self, value: str) -> Organization | None:
        if value not in self._orgs:
            found = None
            if _is_uuid(value):
                found = Organization.objects.filter(uuid=value).first()
            else:
                named = list(Organization.objects.filter(name=value)[:2])
                found = named[0] if len(named) == 1 else None
            self._orgs[value] = found
        return self._orgs[value]

    def subscription(self, value: str) -> Subscription | None:
        if value not in self._subs:
            self._subs[value] = (
                Subscription.objects.select_related("organization").filter(uuid=value).first()
                if _is_uuid(value) else None
            )
        return self._subs[value]

    # Per-column converters of the repetitive cells: raw value → (attrs, error). Files repeat
    # the same few vendors, SKUs and flags, so each distinct value is converted once.

    def _vendor(self, raw) -> tuple[dict | None, tuple[str, str] | None]:
        text = _text(raw)
        if not text:
            return None, ("required", "")
        pk = self.vendors.get(text.casefold())
        return ({"vendor_id": pk}, None) if pk is not None else (None, (f"unknown vendor {text!r}", text))

    def _sku(self, raw):
        text = _text(raw)
        if not text:
            return None, ("required", "")
        pk = self.skus.get(text.casefold())
        return ({"sku_id": pk}, None) if pk is not None else (None, (f"unknown SKU {text!r}", text))

    @staticmethod
    def _capabilities(raw):
        text = _text(raw).lower()
        if not text:
            return None, None
        named = [c for c in CAPABILITY_SPLIT.split(text) if c]
        unknown = [c for c in named if c not in CAPABILITIES]
        if unknown:
            return None, (f"unknown capability {unknown[0]!r} (use {', '.join(CAPABILITIES)})", text)
        return {c: c in named for c in CAPABILITIES}, None

    @staticmethod
    def _flag(attname: str):
        def convert(raw):
            try:
                flag = _bool(raw)
            except ValueError:
                return None, ("not yes/no (yes, no, true, false, 1, 0)", _text(raw))
            return ({attname: flag} if flag is not None else None), None
        return convert

    @staticmethod
    def _tags(raw):
        value = PhoneNumber.tags_to_field(_text(raw))
        if len(value) > MAX_LENGTHS["tags"]:
            return None, (f"longer than {MAX_LENGTHS['tags']} characters", value[:40])
        return {"tags": value}, None

    def _visible_to(self, raw):
        text = _text(raw)
        if not text:
            return {"visible_to_id": None}, None
        partner_id = self.partner(text)
        if partner_id is None:
            return None, ("no partner with this uuid or domain", text)
        return {"visible_to_id": partner_id}, None

    def _converters(self) -> list[tuple[int, str, dict, Callable]]:
        plan = [("vendor", self._vendor), ("sku", self._sku), ("capabilities", self._capabilities),
                ("golden", self._flag("is_golden")), ("ported_in", self._flag("is_ported_in")),
                ("tags", self._tags), ("visible_to", self._visible_to)]
        return [(self.columns[key], key, {}, fn) for key, fn in plan if key in self.columns]

    def _convert(self, values: tuple) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        attrs: dict[str, Any] = {}
        problems: list[tuple[str, str, str]] = []
        for value, (_, key, memo, convert) in zip(values, self.converters, strict=True):
            try:
                result = memo[value]
            except KeyError:
                result = convert(value)
                if len(memo) < 10_000:
                    memo[value] = result
            except TypeError:
                result = convert(value)
            if result[1] is not None:
                problems.append((key, *result[1]))
            elif result[0]:
                attrs |= result[0]
        return attrs, problems

    def check(self, line: int, cells: list[Any]) -> tuple[services.ImportRow | None, list[RowError]]:
        if len(cells) < self.width:
            cells = list(cells) + [None] * (self.width - len(cells))
        if not any(cells):
            return None, []  # blank line: spreadsheets leave them, nobody means anything by them
        col = self.columns
        errors: list[RowError] = []
        if self.nul_possible and any(c.__class__ is str and "\0" in c for c in cells):
            for key, index in col.items():
                value = cells[index]
                if value.__class__ is str and "\0" in value:
                    errors.append(RowError(line, key, "contains a NUL character, which cannot be stored",
                                           value.replace("\0", "")[:40]))
            return None, errors

        country = ""
        if self.country_index is not None:
            country = _text(cells[self.country_index]).upper()
            if country and country not in phonenumbers.SUPPORTED_REGIONS:
                errors.append(RowError(line, "country", "not an ISO 3166 country code", country))
                country = ""
        raw = cells[self.number_index]
        e164 = region = ""
        try:
            if raw.__class__ is str and E164_RE.match(text := raw.strip()):
                e164 = text
            else:
                e164 = normalize(raw, country or self.default_country)
            region = check_e164(e164)
        except NumberError as exc:
            errors.append(RowError(line, "number", str(exc), _text(raw)))
            e164 = ""
        if e164:
            key = int(e164[1:])
            first = self.seen.get(key)
            if first is not None:
                errors.append(RowError(line, "number", f"duplicate of row {first}", e164))
            else:
                self.seen[key] = line
            if country and region and country != region:
                errors.append(RowError(line, "country", f"the number {e164} is in {region}", country))

        # The descriptive cells of a row usually repeat another row's exactly: convert the
        # combination once (then each cell once, when combinations are many).
        combo = tuple(cells[i] for i in self.converter_indexes)
        try:
            converted = self.combos.get(combo)
        except TypeError:  # an unhashable cell value
            converted = None
        if converted is None:
            converted = self._convert(combo)
            if len(self.combos) < 50_000:
                with contextlib.suppress(TypeError):
                    self.combos[combo] = converted
        attrs = dict(converted[0])
        for key, reason, value in converted[1]:
            errors.append(RowError(line, key, reason, value))
        for key in ("routing", "notes"):
            if key in col:
                value = cells[col[key]]
                attrs[key] = value.strip() if value.__class__ is str else _text(value)
        if len(attrs.get("routing", "")) > MAX_LENGTHS["routing"]:
            errors.append(RowError(line, "routing", f"longer than {MAX_LENGTHS['routing']} characters",
                                   attrs["routing"][:40]))

        state = None
        if "state" in col:
            text = _text(cells[col["state"]]).lower()
            if text in NumberState.values:
                state = text
            elif text:
                errors.append(RowError(line, "state", f"unknown state (use {', '.join(NumberState.values)})",
                                       text))
        reserved_for = None
        if "reserved_for" in col:
            reserved_for = _text(cells[col["reserved_for"]])
            if len(reserved_for) > MAX_LENGTHS["reserved_for"]:
                errors.append(RowError(line, "reserved_for", "longer than 150 characters", reserved_for[:40]))
        expires_at = None
        if "expires_at" in col:
            value = cells[col["expires_at"]]
            if _text(value):
                try:
                    expires_at = _datetime(value)
                except (ValueError, OverflowError):
                    errors.append(RowError(line, "expires_at",
                                           "not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)", _text(value)))
        organization = None
        org_key = "organization_uuid" if "organization_uuid" in col else "organization"
        if org_key in col:
            text = _text(cells[col[org_key]])
            if text and (organization := self.organization(text)) is None:
                errors.append(RowError(line, org_key, "no organization with this uuid (or unique name)",
                                       text))
        subscription = None
        if "subscription" in col:
            text = _text(cells[col["subscription"]])
            if text and (subscription := self.subscription(text)) is None:
                errors.append(RowError(line, "subscription", "no subscription with this uuid", text))

        if errors:
            return None, errors
        return services.ImportRow(
            line=line, e164=e164, country=region, attrs=attrs, state=state,
            organization=organization, subscription=subscription, reserved_for=reserved_for,
            expires_at=expires_at,
        ), []


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# --- the import -------------------------------------------------------------------------


class _Rollback(Exception):
    pass


class ErrorReport:
    """Every refused row as CSV (row, column, reason, value), neutralised for spreadsheets."""

    HEADER = ["row", "column", "reason", "value"]

    def __init__(self, stream: IO[str] | None):
        self.writer = csv.writer(stream, lineterminator="\r\n") if stream is not None else None
        if self.writer:
            self.writer.writerow(self.HEADER)

    def write(self, error: RowError) -> None:
        if self.writer:
            self.writer.writerow([error.row or "", error.column, neutralise(error.reason),
                                  neutralise(error.value)])


def import_file(path: str | Path, *, actor, name: str | None = None, country: str | None = None,
                all_or_nothing: bool = True, dry_run: bool = False,
                progress: Callable[[int], None] | None = None, error_stream: IO[str] | None = None,
                chunk_rows: int = CHUNK_ROWS, now: dt.datetime | None = None) -> ImportSummary:
    """Import (or with dry_run, preview) one file; the summary says what happened.

    One transaction for the whole file. All or nothing (the default): any refused row
    means nothing is written; after the first refusal the rest of the file is still
    checked, without writing, so the report is complete. Otherwise the valid rows are
    written and the refused ones reported. The history reason is the file name.
    """
    name = name or Path(path).name
    summary = ImportSummary(name=name, dry_run=dry_run, all_or_nothing=all_or_nothing)
    report = ErrorReport(error_stream)
    started = time.perf_counter()
    now = now or timezone.now()

    def refuse(error: RowError) -> None:
        summary.error_count += 1
        if len(summary.errors) < KEEP_ERRORS:
            summary.errors.append(error)
        report.write(error)

    try:
        kind = check_file(path)
        max_rows = limits()["max_rows"]
        with open_table(path, kind) as table:
            if kind == "xls" and (table.declared_rows or 0) - 1 > max_rows:
                raise ImportFileError(f"more than {max_rows:,} rows; at most {max_rows:,} per file")
            checker = None
            for _line, cells in table.rows:
                if any(_text(c) for c in cells):
                    checker = RowChecker(cells, country=country)
                    break
            if checker is None:
                raise ImportFileError("the file has no header row (number, country, vendor, sku, …)")
            summary.ignored_columns = checker.ignored
            checker.nul_possible = table.nul_possible
            try:
                with transaction.atomic():
                    _run(table, checker, summary, refuse, actor=actor, remark=name, dry_run=dry_run,
                         all_or_nothing=all_or_nothing, max_rows=max_rows, chunk_rows=chunk_rows,
                         progress=progress, now=now)
                    if dry_run or (all_or_nothing and summary.refused):
                        raise _Rollback
                    summary.imported = True
            except _Rollback:
                pass
    except ImportFileError as exc:
        summary.file_error = str(exc)
        summary.imported = False
        report.write(RowError(0, "file", str(exc)))
    except services.ServiceError as exc:
        summary.file_error = " ".join(exc.messages)
        summary.imported = False
        report.write(RowError(0, "file", summary.file_error))
    summary.seconds = time.perf_counter() - started
    return summary


def _run(table: Table, checker: RowChecker, summary: ImportSummary, refuse, *, actor, remark: str,
         dry_run: bool, all_or_nothing: bool, max_rows: int, chunk_rows: int, progress,
         now: dt.datetime) -> None:
    chunk: list[services.ImportRow] = []

    def flush() -> None:
        if not chunk:
            return
        # All or nothing: once a row is refused nothing will be kept, so stop writing and
        # only check the rest (dry run), for a complete report.
        write = not dry_run and not (all_or_nothing and summary.refused)
        outcome = services.numbers_import(rows=chunk, actor=actor, remark=remark, dry_run=not write,
                                          now=now)
        summary.created += outcome.created
        summary.changed += outcome.changed
        summary.unchanged += outcome.unchanged
        if outcome.refused:
            numbers = {r.line: r.e164 for r in chunk}
            for line, column, reason in outcome.refused:
                refuse(RowError(line, column, reason, numbers.get(line, "")))
            summary.refused += len({line for line, _, _ in outcome.refused})
        chunk.clear()
        if progress:
            progress(summary.rows)

    for line, cells in table.rows:
        row, errors = checker.check(line, cells)
        if row is None and not errors:
            continue
        summary.rows += 1
        if summary.rows > max_rows:
            raise ImportFileError(f"more than {max_rows:,} rows; at most {max_rows:,} per file")
        if errors:
            summary.refused += 1
            for error in errors:
                refuse(error)
            continue
        chunk.append(row)
        if len(chunk) >= chunk_rows:
            flush()
    flush()
    if progress:
        progress(summary.rows)


# --- background jobs ---------------------------------------------------------------------


class JobProgress:
    """Writes a running job's progress where the admin's poller can see it.

    The import runs in one long transaction, so its own connection's writes stay invisible
    until the end; on PostgreSQL progress goes through a second, autocommit connection.
    """

    def __init__(self, job_id: int, *, every: float = 0.5):
        self.job_id = job_id
        self.every = every
        self.last = 0.0
        self.side = None
        if connection.vendor == "postgresql":
            try:
                import psycopg

                conf = connection.settings_dict
                django_only = {"pool", "server_side_binding", "isolation_level", "assume_role"}
                options = {k: v for k, v in conf.get("OPTIONS", {}).items() if k not in django_only}
                self.side = psycopg.connect(
                    dbname=conf["NAME"], user=conf.get("USER") or None,
                    password=conf.get("PASSWORD") or None, host=conf.get("HOST") or None,
                    port=conf.get("PORT") or None, autocommit=True, connect_timeout=2, **options,
                )
                self.side.execute("SET lock_timeout = '1s'")
            except Exception:  # progress is nice to have, never a reason to fail an import
                log.warning("import progress: no side connection", exc_info=True)
                self.side = None

    def __call__(self, processed: int) -> None:
        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        if self.side is not None:
            try:
                self.side.execute("UPDATE inventory_importjob SET processed_rows = %s WHERE id = %s",
                                  [processed, self.job_id])
            except Exception:
                log.warning("import progress: update failed", exc_info=True)

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def run_job(job_id: int, *, confirm: bool) -> str:
    """Preview (confirm=False) or import (confirm=True) an ImportJob's file.

    The job is claimed with a conditional UPDATE first, so a task delivered twice, or a
    job resumed by beat while its own task starts, runs once.
    """
    from .choices import ImportJobStatus as J
    from .models import ImportJob
    from .services import import_job_claim, import_job_fail

    job = ImportJob.objects.get(pk=job_id)
    try:
        total = estimate_rows(job.file.path)
    except Exception:
        total = 0
    if not import_job_claim(job_id=job.pk, confirm=confirm, total_rows=total):
        return ImportJob.objects.values_list("status", flat=True).get(pk=job.pk)
    job.refresh_from_db()
    actor = (job.confirmed_by or job.created_by) if confirm else job.created_by
    progress = JobProgress(job.pk)
    errors = _SpooledText()
    try:
        summary = import_file(
            job.file.path, actor=actor, name=job.original_name, country=job.country or None,
            all_or_nothing=job.all_or_nothing, dry_run=not confirm, progress=progress,
            error_stream=errors,
        )
    except Exception as exc:  # a bug, not bad input: keep the job readable and say so
        log.exception("import job %s failed", job.pk)
        import_job_fail(job_id=job.pk, message=f"The import failed unexpectedly "
                                               f"({type(exc).__name__}); nothing was imported.")
        return J.FAILED
    finally:
        progress.close()
    if summary.file_error:
        status = J.FAILED
    elif not confirm:
        status = J.PREVIEWED
    else:
        status = J.DONE if summary.imported else J.FAILED
    job.status = status
    job.total_rows = job.processed_rows = summary.rows
    job.created_count, job.updated_count = summary.created, summary.changed
    job.unchanged_count, job.rejected_count = summary.unchanged, summary.refused
    job.message = summary.message()
    if job.error_file:
        job.error_file.delete(save=False)
    if summary.error_count or summary.file_error:
        job.error_file.save(f"{Path(job.original_name).stem}-errors.csv", errors.as_file(),
                            save=False)
    if confirm or status == J.FAILED:
        job.finished_at = timezone.now()
    job.save()
    return status


def enqueue_job(job, *, confirm: bool) -> None:
    """Queue a job for the worker after the commit; best-effort, never in the request's way.

    If the broker cannot take it, the job waits as a row and beat's import_jobs_resume
    starts it.
    """
    from .tasks_import import import_job

    def send() -> None:
        try:
            import_job.apply_async(args=[job.pk], kwargs={"confirm": confirm}, retry=False)
        except Exception:
            log.warning("import job %s: the broker did not take it; beat will resume it", job.pk,
                        exc_info=True)

    transaction.on_commit(send)


def resume_jobs(*, older_than: dt.timedelta = dt.timedelta(minutes=1)) -> int:
    """Run jobs that have waited longer than older_than for a worker; returns how many ran."""
    from .choices import ImportJobStatus as J
    from .models import ImportJob

    cutoff = timezone.now() - older_than
    ran = 0
    for pk in list(ImportJob.objects.filter(status=J.PENDING, created_at__lt=cutoff)
                   .values_list("pk", flat=True)):
        run_job(pk, confirm=False)
        ran += 1
    for pk in list(ImportJob.objects.filter(status=J.PREVIEWED, confirmed_at__lt=cutoff)
                   .values_list("pk", flat=True)):
        run_job(pk, confirm=True)
        ran += 1
    return ran


class _SpooledText:
    """A text sink for the error report (UTF-8 with BOM, for Excel) that spills to disk."""

    def __init__(self):
        import io
        import tempfile

        self.raw = tempfile.SpooledTemporaryFile(max_size=4 * MB)  # noqa: SIM115 (lives with self)
        self.text = io.TextIOWrapper(self.raw, encoding="utf-8-sig", newline="")

    def write(self, text: str) -> int:
        return self.text.write(text)

    def as_file(self):
        from django.core.files import File

        self.text.flush()
        self.raw.seek(0)
        return File(self.raw)
