"""Streaming export of numbers to CSV and XLSX, safe to open in a spreadsheet.

Rows come from the database through a server-side cursor (`iterator()`) and leave as
they are formatted, so memory stays flat at a million rows. Free-text cells that a
spreadsheet would run as a formula (OWASP: a leading `=`, `+`, `-`, `@`, tab, CR or
NUL) get a leading `'`; the number column never does: E.164 keeps its `+` and is
written as text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import IO, Any

from django.db.models import QuerySet
from django.utils import timezone

from .choices import CAPABILITIES

# (header, values_list lookups). The header names are the import's column names, so an
# exported file imports back unchanged; organization_uuid, package and the dates are extra.
EXPORT_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("number", ("e164",)),
    ("country", ("country",)),
    ("vendor", ("vendor__name",)),
    ("sku", ("sku__code",)),
    ("state", ("state",)),
    ("capabilities", CAPABILITIES),
    ("routing", ("routing",)),
    ("golden", ("is_golden",)),
    ("ported_in", ("is_ported_in",)),
    ("tags", ("tags",)),
    ("notes", ("notes",)),
    ("visible_to", ("visible_to__uuid",)),
    ("reserved_for", ("reserved_for",)),
    ("expires_at", ("expires_at",)),
    ("organization", ("organization__name",)),
    ("organization_uuid", ("organization__uuid",)),
    ("subscription", ("subscription__uuid",)),
    ("package", ("subscription__plan",)),
    ("state_changed_at", ("state_changed_at",)),
    ("delete_reason", ("delete_reason",)),
)
HEADER = [name for name, _ in EXPORT_COLUMNS]
LOOKUPS = [lookup for _, lookups in EXPORT_COLUMNS for lookup in lookups]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, minus the header
ITERATOR_CHUNK = 5000
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportError(Exception):
    """The export cannot be written as asked; the message says why, for people."""


def neutralise(value: str) -> str:
    """Prefix a cell a spreadsheet would read as a formula with `'` (OWASP CSV injection)."""
    if value and value[0] in FORMULA_START:
        return "'" + value
    return value


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return timezone.localtime(value).isoformat(timespec="seconds")


def export_rows(queryset: QuerySet) -> Iterator[list[str]]:
    """The export's cells as text, number first, free text neutralised."""
    for (e164, country, vendor, sku, state, voice, sms, fax, routing, golden, ported, tags, notes,
         visible_to, reserved_for, expires_at, org_name, org_uuid, sub_uuid, plan, changed_at,
         delete_reason) in queryset.values_list(*LOOKUPS).iterator(chunk_size=ITERATOR_CHUNK):
        capabilities = ";".join(c for c, on in zip(CAPABILITIES, (voice, sms, fax), strict=True) if on)
        yield [
            e164,  # typed text, never neutralised: its `+` is part of the number
            neutralise(country),
            neutralise(vendor),
            neutralise(sku),
            state,
            capabilities,
            neutralise(routing),
            "yes" if golden else "no",
            "yes" if ported else "no",
            neutralise(";".join(t for t in tags.split(";") if t)),
            neutralise(notes),
            str(visible_to) if visible_to else "",
            neutralise(reserved_for),
            _when(expires_at),
            neutralise(org_name or ""),
            str(org_uuid) if org_uuid else "",
            str(sub_uuid) if sub_uuid else "",
            neutralise(plan or ""),
            _when(changed_at),
            delete_reason,
        ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(queryset: QuerySet, *, chunk_bytes: int = 64 * 1024,
               counter: list[int] | None = None) -> Iterator[str]:
    """CSV text in pieces of about chunk_bytes, for StreamingHttpResponse or a file.

    Starts with a UTF-8 byte-order mark so that Excel reads accents right; the import
    accepts it. `counter[0]` counts the rows written.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(HEADER)
    for row in export_rows(queryset):
        writer.writerow(row)
        if counter is not None:
            counter[0] += 1
        if buffer.tell() >= chunk_bytes:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(queryset: QuerySet, stream: IO[str]) -> int:
    """Write the CSV export to a text stream; returns the number of rows."""
    counter = [0]
    for chunk in csv_chunks(queryset, counter=counter):
        stream.write(chunk)
    return counter[0]


def write_xlsx(queryset: QuerySet, fileobj: IO[bytes] | str) -> int:
    """Write the XLSX export (openpyxl write-only: rows go to disk as they come).

    Every cell is text: E.164 keeps its `+`, and the number column is formatted as text
    (`@`) so that editing the sheet does not turn it into a number.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("numbers")
    sheet.append(HEADER)
    rows = 0
    for row in export_rows(queryset):
        rows += 1
        if rows > XLSX_MAX_ROWS:
            raise ExportError(
                f"more than {XLSX_MAX_ROWS:,} rows: too many for one XLSX sheet; export CSV or "
                "narrow the filter"
            )
        number = WriteOnlyCell(sheet, value=row[0])
        number.number_format = "@"
        # XML cannot hold control characters such as NUL; the `'` prefix already marks them.
        rest: list[Any] = [ILLEGAL_CHARACTERS_RE.sub("", value) if value else value for value in row[1:]]
        sheet.append([number, *rest])
    workbook.save(fileobj)
    return rows


def export_filename(fmt: str, label: str = "numbers") -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"{label}-{stamp}.{fmt}"


def write_export(queryset: QuerySet, fmt: str, target: IO | str) -> int:
    if fmt == "csv":
        if isinstance(target, str):
            with open(target, "w", encoding="utf-8", newline="") as stream:
                return write_csv(queryset, stream)
        return write_csv(queryset, target)
    if fmt == "xlsx":
        return write_xlsx(queryset, target)
    raise ExportError(f"unknown format {fmt!r}: csv or xlsx")

