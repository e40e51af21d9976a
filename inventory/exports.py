"""Streaming export of numbers to CSV and XLSX, safe to open in a spreadsheet.

Rows leave as they are read, so memory stays flat at a million rows. On PostgreSQL the
cells are formatted by the database itself (`COPY (SELECT …) TO STDOUT`, CSV) and Python
only passes bytes on; elsewhere the same cells are formatted in Python. Free-text cells
that a spreadsheet would run as a formula (OWASP: a leading `=`, `+`, `-`, `@`, tab, CR or
NUL) get a leading `'`; the number column never does: E.164 keeps its `+` and is written
as text. CSV dates are ISO 8601 in UTC (for systems); XLSX dates are date cells in the
configured TIME_ZONE (for people).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import IO, Any

from django.db import connections
from django.db.models import Case, CharField, F, Func, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Concat, Left
from django.db.models.lookups import In
from django.utils import timezone
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from numbermgmt.words import NO_WORD, YES_WORD, yes_no

from .choices import CAPABILITIES

# The header names are the import's column names, so an exported file imports back
# unchanged; organization_uuid, package and the dates are extra (the import ignores them).
# kind: how the cell is written. "free" text is neutralised; the number never is.
COLUMNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("number", ("e164",), "number"),
    ("country", ("country",), "free"),
    ("vendor", ("vendor__name",), "free"),
    ("reseller", ("vendor__reseller__name",), "free"),
    ("sku", ("sku__code",), "free"),
    ("state", ("state",), "plain"),
    ("capabilities", CAPABILITIES, "capabilities"),
    ("routing", ("routing",), "free"),
    ("routing_reachable", ("state",), "reachable"),  # no while held (PhoneNumber.routing_reachable)
    ("golden", ("is_golden",), "yes_no"),
    ("ported_in", ("is_ported_in",), "yes_no"),
    ("tags", ("tags",), "tags"),
    ("notes", ("notes",), "free"),
    ("visible_to", ("visible_to__uuid",), "uuid"),
    ("reserved_for", ("reserved_for",), "free"),
    ("expires_at", ("expires_at",), "when"),
    ("organization", ("organization__name",), "free"),
    ("organization_uuid", ("organization__uuid",), "uuid"),
    ("subscription", ("subscription__uuid",), "uuid"),
    ("package", ("subscription__plan",), "free"),
    ("state_changed_at", ("state_changed_at",), "when"),
    ("delete_reason", ("delete_reason",), "plain"),
)
EXPORT_COLUMNS = tuple((name, lookups) for name, lookups, _ in COLUMNS)
HEADER = [name for name, _, _ in COLUMNS]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\0")
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, minus the header
ITERATOR_CHUNK = 5000
CHUNK_BYTES = 64 * 1024
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


def xlsx_text(value: Any) -> Any:
    """A free-text cell for XLSX. XML cannot hold control characters, so they are removed
    first and the rest is neutralised after: a hidden "\x01=HYPERLINK(…)" must not come
    out as a live formula once its "\x01" is gone."""
    if not value or not isinstance(value, str):
        return value
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _selected(columns: list[str] | None) -> list[tuple[str, tuple[str, ...], str]]:
    if columns is None:
        return list(COLUMNS)
    by_name = {c[0]: c for c in COLUMNS}
    unknown = [c for c in columns if c not in by_name]
    if unknown:
        raise ExportError(f"unknown export columns: {', '.join(unknown)}")
    return [by_name[c] for c in columns]


# --- cells formatted in Python (any database) ----------------------------------------------

_PYTHON = {
    "number": lambda v: v,  # typed text, never neutralised: its `+` is part of the number
    "plain": lambda v: v or "",
    "free": lambda v: neutralise(v or ""),
    "yes_no": yes_no,
    "capabilities": lambda *flags: ";".join(c for c, on in zip(CAPABILITIES, flags, strict=True) if on),
    "tags": lambda v: neutralise(v.strip(";")),
    "uuid": lambda v: str(v) if v else "",
    "when": _when,
    "reachable": lambda state: yes_no(state != "hold"),
}


def _python_rows(queryset: QuerySet, columns: list[str] | None = None) -> Iterator[list[str]]:
    selected = _selected(columns)
    plan = [(_PYTHON[kind], len(lookups)) for _, lookups, kind in selected]
    lookups = [lookup for _, group, _ in selected for lookup in group]
    for values in queryset.values_list(*lookups).iterator(chunk_size=ITERATOR_CHUNK):
        row, i = [], 0
        for fmt, width in plan:
            row.append(fmt(values[i]) if width == 1 else fmt(*values[i:i + width]))
            i += width
        yield row


# --- the same cells as SQL expressions (PostgreSQL) ---------------------------------------
# An empty cell is NULL, which COPY writes as nothing (an empty string would be written "").


class _UtcIso(Func):
    output_field = TextField()
    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')"


def _nullif_empty(expression):
    return Func(expression, Value(""), function="NULLIF", output_field=TextField())


def _neutralised(expression):
    starts = list(FORMULA_START[:-1])  # PostgreSQL text cannot hold NUL
    return Case(When(In(Left(expression, 1), starts), then=Concat(Value("'"), expression)),
                default=expression, output_field=TextField())


def _sql(kind: str, lookups: tuple[str, ...]):
    if kind == "capabilities":
        flags = [Case(When(**{c: True}, then=Value(c)), default=None, output_field=TextField())
                 for c in lookups]
        return _nullif_empty(Func(Value(";"), *flags, function="concat_ws", output_field=TextField()))
    (lookup,) = lookups
    if kind == "number":
        return F(lookup)
    if kind == "plain":
        return _nullif_empty(F(lookup))
    if kind == "free":
        return _nullif_empty(_neutralised(F(lookup)))
    if kind == "tags":
        return _nullif_empty(_neutralised(Func(F(lookup), Value(";"), function="btrim",
                                               output_field=TextField())))
    if kind == "reachable":
        return Case(When(**{lookup: "hold"}, then=Value(NO_WORD)), default=Value(YES_WORD),
                    output_field=TextField())
    if kind == "yes_no":
        return Case(When(**{lookup: True}, then=Value(YES_WORD)), default=Value(NO_WORD),
                    output_field=TextField())
    if kind == "uuid":
        return Cast(lookup, CharField())
    return _UtcIso(F(lookup))


def _sql_columns(columns: list[str] | None = None) -> list:
    return [_sql(kind, lookups) for _, lookups, kind in _selected(columns)]


def _postgres(queryset: QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def _copy_sql(queryset: QuerySet, columns: list[str] | None = None) -> str:
    connection = connections[queryset.db]
    sql, params = queryset.values_list(*_sql_columns(columns)).query.sql_with_params()
    compose = connection.ops.compose_sql  # type: ignore[attr-defined]  # PostgreSQL backend only
    return f"COPY ({compose(sql, params)}) TO STDOUT WITH (FORMAT csv)"


def text_rows(queryset: QuerySet, columns: list[str] | None = None) -> Iterator[list[str]]:
    """The export's cells as text, computed by the database where it can."""
    if not _postgres(queryset):
        yield from _python_rows(queryset, columns)
        return
    rows = queryset.values_list(*_sql_columns(columns)).iterator(chunk_size=ITERATOR_CHUNK)
    for row in rows:
        yield ["" if v is None else v for v in row]


# --- CSV ----------------------------------------------------------------------------------


def _header(columns: list[str] | None, labels: dict[str, str] | None) -> list[str]:
    """The header row: the column names, or the caller's words for them (`labels`)."""
    return [(labels or {}).get(c[0], c[0]) for c in _selected(columns)]


def _header_bytes(columns: list[str] | None = None, labels: dict[str, str] | None = None) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(_header(columns, labels))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def csv_chunks(queryset: QuerySet, *, columns: list[str] | None = None,
               counter: list[int] | None = None,
               labels: dict[str, str] | None = None) -> Iterator[bytes]:
    """The CSV export in pieces of about 64 KB, for StreamingHttpResponse or a file.

    UTF-8 with a byte-order mark (so that Excel reads accents right; the import accepts
    it). `columns` picks and orders a subset of HEADER; `counter[0]` receives the number
    of rows; `labels` gives words for the header (the file then no longer imports back).
    """
    yield _header_bytes(columns, labels)
    if _postgres(queryset):
        yield from _copy_chunks(queryset, columns, counter)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # \r\n: so that a CR in a cell is quoted
    rows = 0
    for row in _python_rows(queryset, columns):
        writer.writerow(row)
        rows += 1
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
    if counter is not None:
        counter[0] = rows


def _copy_chunks(queryset: QuerySet, columns: list[str] | None,
                 counter: list[int] | None) -> Iterator[bytes]:
    connection = connections[queryset.db]
    sql = _copy_sql(queryset, columns)
    with connection.cursor() as cursor:
        pending: list[bytes] = []
        size = 0
        with cursor.cursor.copy(sql) as copy:
            for data in copy:
                pending.append(bytes(data))
                size += len(data)
                if size >= CHUNK_BYTES:
                    yield b"".join(pending)
                    pending, size = [], 0
        yield b"".join(pending)
        if counter is not None:
            counter[0] = cursor.cursor.rowcount


def write_csv(queryset: QuerySet, stream: IO[bytes], *, columns: list[str] | None = None) -> int:
    """Write the CSV export to a binary stream; returns the number of rows."""
    counter = [0]
    for chunk in csv_chunks(queryset, columns=columns, counter=counter):
        stream.write(chunk)
    return counter[0]


# --- XLSX ---------------------------------------------------------------------------------


XLSX_WIDTHS = {"number": 16, "when": 17, "uuid": 37, "capabilities": 14, "yes_no": 9, "tags": 22,
               "plain": 14, "free": 20}
XLSX_DATE_FORMAT = "yyyy-mm-dd hh:mm"


def _xlsx_when(value: str) -> dt.datetime | str:
    """An ISO 8601 cell as a real date cell in the configured zone (a spreadsheet has no zones,
    so the local wall time is written; the README names the zone)."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return timezone.localtime(moment).replace(tzinfo=None)


def xlsx_sheet(workbook: Any, title: str, header: list[str], widths: list[int]) -> Any:
    """A write-only sheet started as people expect it: a bold, frozen header row and columns
    wide enough to read (each at least its title). Close it with xlsx_sheet_close."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(title)
    for i, (width, name) in enumerate(zip(widths, header, strict=True), start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(width, len(name) + 3)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    return sheet


def xlsx_sheet_close(sheet: Any, *, columns: int, rows: int) -> None:
    """The autofilter over the header and the `rows` data rows written."""
    from openpyxl.utils import get_column_letter

    sheet.auto_filter.ref = f"A1:{get_column_letter(max(columns, 1))}{rows + 1}"


def xlsx_text_cell(sheet: Any, value: str) -> Any:
    """A text cell (`@`): an E.164 keeps its `+` when the sheet is edited, and a value starting
    with `=` is shown as written, never run as a formula and without a visible `'`."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value) if value else value)
    if cell.data_type == "f":
        cell.data_type = "s"
    cell.number_format = "@"
    return cell


def write_xlsx(queryset: QuerySet, fileobj: IO[bytes] | str, *, columns: list[str] | None = None,
               labels: dict[str, str] | None = None) -> int:
    """Write the XLSX export (openpyxl write-only: rows go to disk as they come), for a person:
    a bold frozen header with an autofilter, columns wide enough to read, dates as real date
    cells in the configured time zone, E.164 as text (`@`, so that editing the sheet does not
    turn it into a number and drop the `+`)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    selected = _selected(columns)
    header = _header(columns, labels)
    kinds = [kind for _, _, kind in selected]
    workbook = Workbook(write_only=True)
    sheet = xlsx_sheet(workbook, "numbers", header, [XLSX_WIDTHS.get(kind, 16) for kind in kinds])
    rows = 0
    for row in text_rows(queryset, columns):
        rows += 1
        if rows > XLSX_MAX_ROWS:
            raise ExportError(
                f"more than {XLSX_MAX_ROWS:,} rows: too many for one XLSX sheet; export CSV or "
                "narrow the filter"
            )
        out: list[Any] = []
        for kind, value in zip(kinds, row, strict=True):
            if kind == "number":
                out.append(xlsx_text_cell(sheet, value))
            elif kind == "when" and value:
                cell = WriteOnlyCell(sheet, value=_xlsx_when(value))
                cell.number_format = XLSX_DATE_FORMAT
                out.append(cell)
            else:
                out.append(xlsx_text(value))
        sheet.append(out)
    xlsx_sheet_close(sheet, columns=len(header), rows=rows)
    workbook.save(fileobj)
    return rows


def export_filename(fmt: str, label: str = "numbers") -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"{label}-{stamp}.{fmt}"


def write_export(queryset: QuerySet, fmt: str, target: IO[bytes] | str) -> int:
    if fmt == "csv":
        if isinstance(target, str):
            with open(target, "wb") as stream:
                return write_csv(queryset, stream)
        return write_csv(queryset, target)
    if fmt == "xlsx":
        return write_xlsx(queryset, target)
    raise ExportError(f"unknown format {fmt!r}: csv or xlsx")
