"""Import files: cells → checked rows → the import rules, and the job runner.

inventory.files bounds and reads the file; this module checks it cell by cell, turning it
into checked rows (`ImportRow`) that it feeds to `numbers_import` in chunks; the rules
about what a row may change live there (inventory.services.importing), and every write of
an ImportJob in inventory.services.import_jobs. A million-row file is never held in
memory: rows are read as a stream, checked, diffed against the database one chunk at a
time and written set-wise.

Row numbers are the spreadsheet's: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import datetime as dt
import hashlib
import io
import logging
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import phonenumbers
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from numbermgmt.words import parse_yes_no
from subscriptions.choices import SubscriptionKind, SubscriptionStatus
from subscriptions.models import Organization, Subscription
from subscriptions.selectors import partner_find

from . import exports
from .bulk import Later
from .choices import CAPABILITIES, ImportJobStatus, NumberState, state_from_word
from .exports import neutralise
from .files import MB, ImportFileError, Table, check_file, estimate_rows, limits, open_table
from .models import ImportJob, ImportMapping, PhoneNumber, Sku, Vendor
from .numbers import E164_RE, NumberError, check_e164, normalize
from .services import ServiceError
from .services.import_jobs import (
    import_job_claim,
    import_job_fail,
    import_job_finish,
    import_job_progress,
    import_job_progress_close,
)
from .services.importing import ImportRow, numbers_import
from .services.lifecycle import Allowance, hold_attrs_clean

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
# An upload waiting for its mapping step is not checked by beat for this long.
MAPPING_WAIT = dt.timedelta(days=1)
KEEP_ERRORS = 1000  # kept in memory for the preview; the error file has them all

# The columns an import reads (field → what the mapping step's drop-down calls it).
IMPORT_FIELDS: dict[str, str] = {
    "number": "Number", "country": "Country (ISO code)", "vendor": "Vendor (name)",
    "sku": "SKU (code)", "state": "State", "capabilities": "Capabilities (voice;sms;fax)",
    "routing": "Routing", "golden": "Golden (yes/no)", "ported_in": "Ported in (yes/no)",
    "tags": "Tags", "notes": "Notes", "visible_to": "Visible to (partner uuid or domain)",
    "reserved_for": "Reserved for (username)", "expires_at": "Expires at",
    "after_hold": "After hold (reserved, available, deleted)", "hold_days": "Hold days",
    "organization": "Organization / client (name or uuid)", "organization_uuid": "Organization uuid",
    "subscription": "Subscription (uuid)",
}
# Header names as people (and the seeds' products) write them, normalised by _header_key
# (case, spaces and punctuation folded to "_") → the column they mean.
HEADER_ALIASES: dict[str, str] = {
    **{name: name for name in IMPORT_FIELDS},
    "e164": "number", "phone": "number", "phone_number": "number", "phone_no": "number",
    "phone_nr": "number", "telephone": "number", "tel": "number", "msisdn": "number",
    "did": "number", "did_number": "number", "did_no": "number", "numbers": "number",
    "country_code": "country", "country_iso": "country",
    "vendor_name": "vendor", "operator": "vendor", "carrier": "vendor", "provider": "vendor",
    "supplier": "vendor",
    "sku_code": "sku", "product": "sku", "product_code": "sku",
    "status": "state", "did_status": "state",
    "capability": "capabilities",
    "route": "routing", "destination": "routing",
    "is_golden": "golden",
    "is_ported_in": "ported_in", "ported": "ported_in",
    "tag": "tags",
    "note": "notes", "comment": "notes", "comments": "notes", "remarks": "notes",
    "expires": "expires_at", "ends": "expires_at", "expiry": "expires_at", "expiry_date": "expires_at",
    "after_hold_state": "after_hold", "after_hold_status": "after_hold",
    "hold_period": "hold_days",
    "owner": "organization", "client": "organization", "customer": "organization",
    "client_name": "organization", "customer_name": "organization",
    "owner_uuid": "organization_uuid", "client_uuid": "organization_uuid",
    "customer_uuid": "organization_uuid",
    "subscription_uuid": "subscription",
}
# Columns of our own export that an import does not read (reseller, package, dates…):
# known, so an exported file imports back with no mapping step, and ignored.
EXPORT_ONLY = frozenset(name for name in exports.HEADER if name not in HEADER_ALIASES)
REQUIRED = ("number", "vendor", "sku")  # and country, unless a default country is given
CAPABILITY_SPLIT = re.compile(r"[;,|/\s]+")
MAX_LENGTHS = {"routing": 100, "tags": 500, "reserved_for": 150}
# Dates outside these years are refused per row: a year-1 or year-9999 value shifts out of
# the calendar in another time zone and would break every list, search and export showing it.
YEARS = (1900, 2999)


def header_key(raw: Any) -> str:
    return re.sub(r"[^0-9a-z]+", "_", _text(raw).lstrip("\ufeff").casefold()).strip("_")


def header_signature(header: Sequence[Any]) -> str:
    """Identifies a set of headers (case and punctuation aside): the key of a remembered mapping."""
    keys = [header_key(h) for h in header]
    return hashlib.sha256("\x1f".join(keys).rstrip("\x1f").encode()).hexdigest()


@dataclass
class HeaderPlan:
    """Which file column feeds which field, after aliases and an explicit mapping."""

    header: list[str]
    columns: dict[str, int] = field(default_factory=dict)  # field → column index
    ignored: list[str] = field(default_factory=list)  # read, not imported (export-only, or "ignore")
    unknown: list[str] = field(default_factory=list)  # neither a field, an alias nor ours: ask
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (header, field) not by its own name

    def missing(self, *, vendor: str = "", sku: str = "", country: str = "") -> list[str]:
        """Required fields neither a column nor a default gives."""
        given = {"vendor": vendor, "sku": sku, "country": country}
        return [name for name in ("number", "country", "vendor", "sku")
                if name not in self.columns and not given.get(name)]

    def describe(self) -> str:
        return ", ".join(f"{header} → {name}" for header, name in self.renamed)


def header_plan(header: Sequence[Any], *, mapping: Mapping[str, str] | None = None) -> HeaderPlan:
    """Resolve a header row: `mapping` (header text → field, "" = ignore) wins over the
    aliases. ImportFileError for a field fed twice, an unknown field or a mapped header the
    file does not have."""
    chosen: dict[str, str] = {}
    for name, given in (mapping or {}).items():
        wanted = (given or "").strip()
        if wanted and wanted not in IMPORT_FIELDS:
            raise ImportFileError(f"{wanted!r} is not a column an import reads "
                                  f"(use one of {', '.join(IMPORT_FIELDS)}, or leave it empty to ignore)")
        chosen[header_key(name)] = wanted
    plan = HeaderPlan(header=[_text(h).lstrip("\ufeff") for h in header])
    seen: set[str] = set()
    for index, text in enumerate(plan.header):
        key = header_key(text)
        if not key:
            continue
        seen.add(key)
        target: str | None = chosen[key] if key in chosen else HEADER_ALIASES.get(key)
        if target is None:
            (plan.ignored if key in EXPORT_ONLY else plan.unknown).append(text)
            continue
        if not target:
            plan.ignored.append(text)
            continue
        if target in plan.columns:
            first = plan.header[plan.columns[target]]
            raise ImportFileError(f"the column {target!r} appears twice in the header "
                                  f"({first!r} and {text!r})")
        plan.columns[target] = index
        if key != target:
            plan.renamed.append((text, target))
    if absent := [name for name in (mapping or {}) if header_key(name) not in seen]:
        raise ImportFileError(f"the mapping names column{'s' if len(absent) > 1 else ''} the file "
                              f"does not have: {', '.join(absent)}")
    return plan


def header_read(path: str | Path) -> list[Any]:
    """The file's header row (its first row with any text), bounded like the import."""
    kind = check_file(path)
    with open_table(path, kind) as table:
        return _header_row(table)


def mapping_remembered(header: Sequence[Any]) -> ImportMapping | None:
    """The mapping last confirmed for files with these headers, if any."""
    return ImportMapping.objects.filter(header_signature=header_signature(header)).first()


@dataclass
class ImportOptions:
    """How one file is read: the column mapping and the defaults for absent columns."""

    mapping: dict[str, str] | None = None
    vendor: str = ""
    sku: str = ""
    country: str = ""
    # The admin asks first: a header it does not know, or a required column no one gave.
    needs_mapping: bool = False


def import_options(header: Sequence[Any], *, country: str = "", vendor: str = "",
                   sku: str = "") -> ImportOptions:
    """The remembered mapping of these headers (a default given here wins over its
    defaults), or the aliases alone: then `needs_mapping` says whether the admin's mapping
    step must come first (a header it does not know, a required column nothing gives)."""
    remembered = mapping_remembered(header)
    if remembered is not None:
        saved = remembered.mapping
        return ImportOptions(mapping=dict(saved.get("columns") or {}),
                             vendor=vendor or saved.get("vendor", ""), sku=sku or saved.get("sku", ""),
                             country=country or saved.get("country", ""))
    plan = header_plan(header)
    missing = plan.missing(vendor=vendor, sku=sku, country=country)
    return ImportOptions(vendor=vendor, sku=sku, country=country,
                         needs_mapping=bool(plan.unknown or missing))


def header_samples(path: str | Path, *, rows: int = 3) -> tuple[list[Any], list[list[str]]]:
    """The header and the first few data rows' cells as text, for the mapping step."""
    kind = check_file(path)
    samples: list[list[str]] = []
    with open_table(path, kind) as table:
        header = _header_row(table)
        for _line, cells in table.rows:
            if any(_text(c) for c in cells):
                samples.append([_text(c) for c in cells])
            if len(samples) >= rows:
                break
    return header, samples


def job_options(job: ImportJob) -> ImportOptions:
    """A job's options from its file's header; a file that cannot be read goes on to the
    preview, which says why."""
    try:
        header = header_read(job.file.path)
    except (ImportFileError, OSError):
        return ImportOptions(country=job.country)
    return import_options(header, country=job.country)


def _header_row(table: Table) -> list[Any]:
    for _line, cells in table.rows:
        if any(_text(c) for c in cells):
            return list(cells)
    raise ImportFileError("the file has no header row (number, country, vendor, sku, …)")


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
    mapped: str = ""  # "Phone No. → number, Carrier → vendor": columns read under another name
    defaults: str = ""  # "vendor X, SKU Y": defaults standing in for absent columns
    file_error: str = ""
    imported: bool = False
    seconds: float = 0.0

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
        mapped = f"; columns: {self.mapped}" if self.mapped else ""
        defaults = f"; defaults: {self.defaults}" if self.defaults else ""
        return f"{self.name}: {verdict}. {counts}{mapped}{defaults}{ignored}."


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
    flag = parse_yes_no(_text(value))
    if flag is None:
        raise ValueError
    return flag


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    else:
        text = _text(value)
        found = parse_datetime(text) or (
            dt.datetime.combine(d, dt.time()) if (d := parse_date(text)) else None
        )
        if found is None:
            raise ValueError
        parsed = found
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    # Year 9999 at -05:00, or year 1 at +05:00, has no UTC value: OverflowError, a row error.
    return parsed.astimezone(dt.UTC)


class _Seen:
    """The numbers a file has named so far (as integers) and the row of each, for "duplicate
    of row N". Files mostly list consecutive numbers on consecutive rows: such a run is kept
    as one (first number, first row, length) entry, so a 10,000,000-row file needs a few
    entries instead of a dictionary of ten million; the other numbers go to a dictionary.
    """

    RUN_MIN = 64  # shorter runs are dissolved into the dictionary

    def __init__(self) -> None:
        self.single: dict[int, int] = {}
        self.starts: list[int] = []  # the closed runs, by first number
        self.runs: list[tuple[int, int, int]] = []  # (first number, first row, length), same order
        self.run: tuple[int, int, int] | None = None  # the open run

    def _in_runs(self, number: int) -> int | None:
        index = bisect.bisect_right(self.starts, number) - 1
        if index >= 0:
            start, row, length = self.runs[index]
            if number < start + length:
                return row + number - start
        return None

    def _close(self) -> None:
        if self.run is None:
            return
        start, row, length = self.run
        self.run = None
        if length < self.RUN_MIN:
            for offset in range(length):
                self.single[start + offset] = row + offset
            return
        index = bisect.bisect_right(self.starts, start)
        self.starts.insert(index, start)
        self.runs.insert(index, (start, row, length))

    def first(self, number: int, line: int) -> int | None:
        """The row that named `number` before, or None (and `number` is remembered at `line`)."""
        run = self.run
        if run is not None:
            start, row, length = run
            if start <= number < start + length:
                return row + number - start
        found = self.single.get(number)
        if found is None and self.starts:
            found = self._in_runs(number)
        if found is not None:
            return found
        if run is not None and number == run[0] + run[2] and line == run[1] + run[2]:
            self.run = (run[0], run[1], run[2] + 1)
        else:
            self._close()
            self.run = (number, line, 1)
        return None


class RowChecker:
    """Checks one row's cells and turns them into a ImportRow, or row errors.

    `mapping` (header text → field or "" to ignore) comes from the admin's mapping step or
    the command's --map; `vendor` / `sku` stand in for a column the file does not have.
    """

    def __init__(self, header: Sequence[Any], *, country: str | None,
                 mapping: Mapping[str, str] | None = None, vendor: str | None = None,
                 sku: str | None = None):
        self.plan = header_plan(header, mapping=mapping)
        self.columns: dict[str, int] = self.plan.columns
        # Unknown headers are ignored here (and listed); the admin asks about them first.
        self.ignored: list[str] = self.plan.ignored + self.plan.unknown
        self.default_country = (country or "").strip().upper() or None
        vendor, sku = (vendor or "").strip(), (sku or "").strip()
        missing = self.plan.missing(vendor=vendor, sku=sku, country=self.default_country or "")
        if missing:
            raise ImportFileError(
                f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                f"(the header row has: {', '.join(h for h in self.plan.header if h) or 'nothing'})"
            )
        self.vendors = {name.casefold(): pk for pk, name in Vendor.objects.values_list("pk", "name")}
        self.skus = {code.casefold(): pk for pk, code in Sku.objects.values_list("pk", "code")}
        # A default stands in for its absent column, as if every row had that value.
        self.constant: dict[str, Any] = {}
        if vendor and "vendor" not in self.columns:
            if vendor.casefold() not in self.vendors:
                raise ImportFileError(f"unknown vendor {vendor!r} (the default vendor)")
            self.constant["vendor_id"] = self.vendors[vendor.casefold()]
        if sku and "sku" not in self.columns:
            if sku.casefold() not in self.skus:
                raise ImportFileError(f"unknown SKU {sku!r} (the default SKU)")
            self.constant["sku_id"] = self.skus[sku.casefold()]
        self.seen = _Seen()
        self._partners: dict[str, int | None] = {}
        self._orgs: dict[str, Organization | None] = {}
        self._subs: dict[str, Subscription | None] = {}
        self._org_subs: dict[int, tuple[Subscription | None, str]] = {}
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
            found = partner_find(value)
            self._partners[key] = found.pk if found else None
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

    def only_subscription(self, org: Organization) -> tuple[Subscription | None, str]:
        if org.pk not in self._org_subs:
            found = list(Subscription.objects.select_related("organization").filter(
                organization=org, kind=SubscriptionKind.SERVICE,
                status=SubscriptionStatus.ACTIVE)[:2])
            self._org_subs[org.pk] = (found[0], "") if len(found) == 1 else (
                None, f"{org.name} has {'no' if not found else 'several'} active service "
                      "subscription" + ("s" if found else "") + "; name the subscription (uuid)")
        return self._org_subs[org.pk]

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

    def check(self, line: int, cells: list[Any]) -> tuple[ImportRow | None, list[RowError]]:
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
            # The fast path only for plain ASCII: `\\d` matches any script's digits, and
            # every other spelling goes through numbers.normalize (preview and import alike).
            if raw.__class__ is str and (text := raw.strip()).isascii() and E164_RE.match(text):
                e164 = text
            else:
                e164 = normalize(raw, country or self.default_country)
            region = check_e164(e164)
        except NumberError as exc:
            errors.append(RowError(line, "number", str(exc), _text(raw)))
            e164 = ""
        if e164:
            digits = int(e164[1:])
            first = self.seen.first(digits, line)
            if first is not None:
                errors.append(RowError(line, "number", f"duplicate of row {first}", e164))
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
        attrs = {**self.constant, **converted[0]}
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
        if "state" in col and (text := _text(cells[col["state"]])):
            try:
                state = state_from_word(text)[0]
            except ValueError as exc:
                errors.append(RowError(line, "state", str(exc), text))
        # reserved_for: a present, empty cell keeps the number's flag (clearing it is the
        # set-reserved-for action's, with a remark); a value sets it.
        reserved_for = None
        if "reserved_for" in col and (text := _text(cells[col["reserved_for"]])):
            reserved_for = text
            if len(reserved_for) > MAX_LENGTHS["reserved_for"]:
                errors.append(RowError(line, "reserved_for", "longer than 150 characters", reserved_for[:40]))
        # after_hold (empty: left as it is) and hold_days (empty: the hold policy's), checked
        # by the rule the add form and mass edit use.
        for key, attname in (("after_hold", "after_hold_state"), ("hold_days", "hold_days")):
            if key not in col:
                continue
            text = _text(cells[col[key]])
            if key == "after_hold" and not text:
                continue
            if key == "after_hold":
                with contextlib.suppress(ValueError):
                    text = state_from_word(text)[0]  # the seeds' words: In stock, Archive…
            values = {attname: text}
            try:
                hold_attrs_clean(values)
            except ServiceError as exc:
                errors.append(RowError(line, key, " ".join(exc.messages), text[:40]))
            else:
                attrs[attname] = values[attname]
        expires_at = None
        if "expires_at" in col:
            value = cells[col["expires_at"]]
            if _text(value):
                try:
                    expires_at = _datetime(value)
                except (ValueError, OverflowError):
                    errors.append(RowError(line, "expires_at",
                                           "not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)", _text(value)))
                else:
                    if not YEARS[0] <= expires_at.year <= YEARS[1]:
                        errors.append(RowError(line, "expires_at", f"outside the years {YEARS[0]} to "
                                               f"{YEARS[1]}", _text(value)))
                        expires_at = None
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

        if state == NumberState.ASSIGNED and subscription is None and organization is not None:
            # A Client column without a subscription: the client's one active service.
            subscription, reason = self.only_subscription(organization)
            if subscription is None:
                errors.append(RowError(line, "subscription", reason, organization.name))

        if errors:
            return None, errors
        return ImportRow(
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
    """Every refused row as CSV: the file's own columns, as the row had them, then `row` and
    `reason` — fix the cells, delete the two columns and the file imports again. Cells are
    neutralised for spreadsheets (error_report_xlsx undoes that for its text cells)."""

    TAIL = ["row", "reason"]

    def __init__(self, stream: IO[str] | None):
        self.writer = csv.writer(stream, lineterminator="\r\n") if stream is not None else None
        self.width: int | None = None  # the header's, once written

    def start(self, header: Sequence[Any]) -> None:
        """Write the header row: the file's header, then row and reason."""
        if self.width is not None:
            return
        titles = [_text(h) for h in header]
        self.width = len(titles)
        if self.writer:
            self.writer.writerow([neutralise(t) for t in titles] + self.TAIL)

    def write(self, line: int, cells: Sequence[Any], errors: Sequence[RowError]) -> None:
        """One refused row (line 0: the file itself) with all its reasons."""
        self.start([])
        if not self.writer:
            return
        width = self.width or 0
        original = [_report_cell(_text(c)) for c in list(cells)[:width]]
        original += [""] * (width - len(original))
        self.writer.writerow([*original, line or "", neutralise(error_reason(errors))])


# "+65 6700-0002": a spreadsheet reads it as a number at worst, never runs it; left as written.
_PHONE_LIKE = re.compile(r"\+[\d\s().-]*")


def _report_cell(text: str) -> str:
    return text if _PHONE_LIKE.fullmatch(text) else neutralise(text)


def error_reason(errors: Sequence[RowError]) -> str:
    """A row's reasons in one cell: "vendor: unknown vendor 'X'; number: duplicate of row 3"."""
    parts = []
    for error in errors:
        text = f"{error.column}: {error.reason}"
        if error.value and error.value not in error.reason:
            text += f" ({error.value!r})"
        parts.append(text)
    return "; ".join(parts)


def error_report_rows(stream: IO[bytes]) -> Iterator[list[str]]:
    """The stored CSV report's rows, header first, with the spreadsheet neutralisation undone."""
    lines = (line.decode("utf-8-sig", "replace") for line in stream)
    for row in csv.reader(lines):
        yield [c[1:] if c[:1] == "'" and c[1:2] in exports.FORMULA_START else c for c in row]


def error_report_xlsx(source: IO[bytes], target: IO[bytes]) -> int:
    """The CSV error report as XLSX for a person (the export's sheet style): every cell a
    text cell, so a value starting with `=` reads as written; returns the refused rows."""
    from openpyxl import Workbook

    rows = error_report_rows(source)
    header = next(rows, None) or ErrorReport.TAIL
    workbook = Workbook(write_only=True)
    widths = [exports.XLSX_WIDTHS["free"]] * (len(header) - 2) + [8, 60]
    sheet = exports.xlsx_sheet(workbook, "refused rows", header, widths)
    count = 0
    for row in rows:
        count += 1
        *cells, line, reason = row
        sheet.append([*(exports.xlsx_text_cell(sheet, c) if c else None for c in cells),
                      int(line) if line.isdigit() else line, exports.xlsx_text_cell(sheet, reason)])
    exports.xlsx_sheet_close(sheet, columns=len(header), rows=count)
    workbook.save(target)
    return count


def import_file(path: str | Path, *, actor, name: str | None = None, country: str | None = None,
                all_or_nothing: bool = True, dry_run: bool = False,
                progress: Callable[[int], None] | None = None, error_stream: IO[str] | Any = None,
                chunk_rows: int = CHUNK_ROWS, now: dt.datetime | None = None,
                mapping: Mapping[str, str] | None = None, vendor: str | None = None,
                sku: str | None = None) -> ImportSummary:
    """Import (or with dry_run, preview) one file; the summary says what happened.

    The preview and the import are this one function (dry_run aside): the same reading,
    mapping, cell checks and rules, so they agree on every row.

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

    def refuse(line: int, cells: Sequence[Any], errors: list[RowError]) -> None:
        summary.error_count += len(errors)
        summary.errors.extend(errors[:max(KEEP_ERRORS - len(summary.errors), 0)])
        report.write(line, cells, errors)

    try:
        kind = check_file(path)
        max_rows = limits()["max_rows"]
        with open_table(path, kind) as table:
            if kind == "xls" and (table.declared_rows or 0) - 1 > max_rows:
                raise ImportFileError(f"more than {max_rows:,} rows; at most {max_rows:,} per file")
            header = _header_row(table)
            report.start(header)
            checker = RowChecker(header, country=country, mapping=mapping, vendor=vendor, sku=sku)
            summary.ignored_columns = checker.ignored
            summary.mapped = checker.plan.describe()
            summary.defaults = ", ".join(f"{label} {value}" for label, value in
                                         (("vendor", vendor), ("SKU", sku)) if value
                                         and label.lower() not in checker.columns)
            checker.nul_possible = table.nul_possible
            try:
                with transaction.atomic(), Later() as later:
                    _run(table, checker, summary, refuse, actor=actor, remark=name, dry_run=dry_run,
                         all_or_nothing=all_or_nothing, max_rows=max_rows, chunk_rows=chunk_rows,
                         progress=progress, now=now, later=later)
                    if dry_run or (all_or_nothing and summary.refused):
                        raise _Rollback
                    summary.imported = True
            except _Rollback:
                pass
    except ImportFileError as exc:
        summary.file_error = str(exc)
        summary.imported = False
        report.write(0, [], [RowError(0, "file", str(exc))])
    except ServiceError as exc:
        summary.file_error = " ".join(exc.messages)
        summary.imported = False
        report.write(0, [], [RowError(0, "file", summary.file_error)])
    summary.seconds = time.perf_counter() - started
    return summary


def _run(table: Table, checker: RowChecker, summary: ImportSummary, refuse, *, actor, remark: str,
         dry_run: bool, all_or_nothing: bool, max_rows: int, chunk_rows: int, progress,
         now: dt.datetime, later: Later) -> None:
    chunk: list[ImportRow] = []
    # One allowance for the whole file: a preview writes nothing, so chunk by chunk it would
    # count each chunk against the subscription's allowance alone and pass rows the import refuses.
    allowance = Allowance()
    raw: dict[int, Sequence[Any]] = {}

    def flush() -> None:
        if not chunk:
            return
        # All or nothing: once a row is refused nothing will be kept, so stop writing and
        # only check the rest (dry run), for a complete report.
        write = not dry_run and not (all_or_nothing and summary.refused)
        # Each chunk's history is written while the next chunk is read and checked (Later).
        outcome = numbers_import(rows=chunk, actor=actor, remark=remark, dry_run=not write,
                                 now=now, allowance=allowance, later=later)
        summary.created += outcome.created
        summary.changed += outcome.changed
        summary.unchanged += outcome.unchanged
        if outcome.refused:
            numbers = {r.line: r.e164 for r in chunk}
            refused: dict[int, list[RowError]] = {}
            for line, column, reason in outcome.refused:
                refused.setdefault(line, []).append(RowError(line, column, reason, numbers.get(line, "")))
            for line, errors in refused.items():
                refuse(line, raw.get(line, ()), errors)
            summary.refused += len(refused)
        chunk.clear()
        raw.clear()
        if progress:
            progress(summary.rows)

    for line, cells, row, errors in _checked_rows(table, checker):
        summary.rows += 1
        if summary.rows > max_rows:
            raise ImportFileError(f"more than {max_rows:,} rows; at most {max_rows:,} per file")
        if errors:
            summary.refused += 1
            refuse(line, cells, errors)
            continue
        if row is not None:
            chunk.append(row)
            raw[line] = cells  # the file's own cells, for the error report if the rules refuse it
        if len(chunk) >= chunk_rows:
            flush()
    flush()
    if progress:
        progress(summary.rows)


CheckedRow = tuple[int, Sequence[Any], "ImportRow | None", list[RowError]]


def _checked_rows(table: Table, checker: RowChecker) -> Iterator[CheckedRow]:
    """The file's rows, read and checked in the file's order, blank lines left out.

    On this thread, between the writes of the chunks: checking in a second thread while
    this one wrote was slower (1M rows: 157 s against 136 s), as the two fought over the
    GIL and each ran at a fraction of its speed (docs/scale.md).
    """
    for line, cells in table.rows:
        row, errors = checker.check(line, cells)
        if row is not None or errors:
            yield line, cells, row, errors


# --- background jobs ---------------------------------------------------------------------


class JobProgress:
    """Reports a running job's progress at most every `every` seconds (import_job_progress
    writes it where the admin's poller sees it, outside the import's transaction)."""

    def __init__(self, job_id: int, *, every: float = 0.5):
        self.job_id = job_id
        self.every = every
        self.last = 0.0

    def __call__(self, processed: int) -> None:
        if time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        import_job_progress(job_id=self.job_id, processed=processed)


def run_job(job_id: int, *, confirm: bool) -> str:
    """Preview (confirm=False) or import (confirm=True) an ImportJob's file.

    The job is claimed with a conditional UPDATE first, so a task delivered twice, or a
    job resumed by beat while its own task starts, runs once. The file is read with the
    mapping remembered for its headers (the admin's mapping step), else by the aliases.
    """
    job = ImportJob.objects.get(pk=job_id)
    options = job_options(job)
    try:
        total = estimate_rows(job.file.path)
    except Exception:
        total = 0
    if not import_job_claim(job_id=job.pk, confirm=confirm, total_rows=total):
        return ImportJob.objects.values_list("status", flat=True).get(pk=job.pk)
    job.refresh_from_db()
    actor = (job.confirmed_by or job.created_by) if confirm else job.created_by
    errors = _SpooledText()
    try:
        summary = import_file(
            job.file.path, actor=actor, name=job.original_name, country=options.country or None,
            all_or_nothing=job.all_or_nothing, dry_run=not confirm, progress=JobProgress(job.pk),
            error_stream=errors, mapping=options.mapping, vendor=options.vendor, sku=options.sku,
        )
    except Exception as exc:  # a bug, not bad input: keep the job readable and say so
        log.exception("import job %s failed", job.pk)
        import_job_fail(job_id=job.pk, message=f"The import failed unexpectedly "
                                               f"({type(exc).__name__}); nothing was imported.")
        return ImportJobStatus.FAILED
    finally:
        import_job_progress_close()
    return import_job_finish(job_id=job.pk, confirm=confirm, summary=summary, errors=errors.as_file())


def job_runs_in_background(job: ImportJob) -> bool:
    """Large files go to the worker; small ones are checked or imported in the request."""
    return job.total_rows > limits()["background_rows"]


def resume_jobs(*, older_than: dt.timedelta = dt.timedelta(minutes=1)) -> int:
    """Run jobs that have waited longer than older_than for a worker; returns how many ran."""
    J = ImportJobStatus
    cutoff = timezone.now() - older_than
    ran = 0
    waits = timezone.now() - MAPPING_WAIT
    for job in list(ImportJob.objects.filter(status=J.PENDING, created_at__lt=cutoff)):
        if job.created_at > waits and job_options(job).needs_mapping:
            continue  # the admin's mapping step comes first (left a day, then checked as it is)
        run_job(job.pk, confirm=False)
        ran += 1
    for pk in list(ImportJob.objects.filter(status=J.PREVIEWED, confirmed_at__lt=cutoff)
                   .values_list("pk", flat=True)):
        run_job(pk, confirm=True)
        ran += 1
    return ran


class _SpooledText:
    """A text sink for the error report (UTF-8 with BOM, for Excel) that spills to disk."""

    def __init__(self) -> None:
        self.raw = tempfile.SpooledTemporaryFile(max_size=4 * MB)  # noqa: SIM115 (lives with self)
        self.text = io.TextIOWrapper(self.raw, encoding="utf-8-sig", newline="")

    def write(self, text: str) -> int:
        return self.text.write(text)

    def as_file(self) -> File:
        self.text.flush()
        self.raw.seek(0)
        return File(self.raw)
