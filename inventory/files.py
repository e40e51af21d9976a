"""Reading and bounding uploaded import files: CSV (any delimiter, UTF-8 with or without
BOM, Windows-1252 / Latin-1), XLSX and legacy XLS.

Every file is bounded before it is parsed (size, rows, and for XLSX the zip directory's
inflate ratio), then read as a stream of (row number, cells): a million-row file is never
held in memory. What the cells mean is inventory.imports' business.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

MB = 1024 * 1024


class ImportFileError(Exception):
    """The file as a whole cannot be imported (size, format, header); nothing was changed."""


def limits() -> dict[str, int]:
    conf: dict[str, Any] = settings.NUMBERMGMT
    max_bytes = int(conf.get("IMPORT_MAX_BYTES", 200 * MB))
    return {
        "max_bytes": max_bytes,
        "max_rows": int(conf.get("IMPORT_MAX_ROWS", 2_000_000)),
        "background_rows": int(conf.get("IMPORT_BACKGROUND_ROWS", 5000)),
        # An XLSX is a zip: checked from its directory before anything is inflated.
        "max_unzipped_bytes": int(conf.get("IMPORT_MAX_UNZIPPED_BYTES", max(1024 * MB, max_bytes))),
        "max_inflate_ratio": int(conf.get("IMPORT_MAX_INFLATE_RATIO", 100)),
        "max_xls_bytes": int(conf.get("IMPORT_MAX_XLS_BYTES", 64 * MB)),
        # openpyxl holds an XLSX's whole shared-string table in memory (a list of every
        # distinct text): bounded apart from the inflate bounds, which would let it be 1 GB.
        "max_shared_strings_bytes": int(conf.get("IMPORT_MAX_SHARED_STRINGS_BYTES", 96 * MB)),
        "max_shared_strings": int(conf.get("IMPORT_MAX_SHARED_STRINGS", 3_000_000)),
    }


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
    check_shared_strings(path, members)


SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SI = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,40}:)?si[\s/>]")
_SI_TAIL = 64  # longer than any match of _SI


def _shared_strings_part(archive: zipfile.ZipFile, names: set[str]) -> str | None:
    """Where the shared-string table is: [Content_Types].xml names it, as openpyxl reads it."""
    from defusedxml.ElementTree import fromstring

    if "[Content_Types].xml" in names:
        with archive.open("[Content_Types].xml") as stream:
            head = stream.read(MB + 1)
        if len(head) <= MB:
            try:
                root = fromstring(head)
            except Exception:  # noqa: BLE001 - openpyxl's own reading says what is wrong
                root = None
            for node in root.iter() if root is not None else ():
                if node.get("ContentType") == SHARED_STRINGS_TYPE and node.get("PartName"):
                    part = node.get("PartName", "").lstrip("/")
                    return part if part in names else None
    return "xl/sharedStrings.xml" if "xl/sharedStrings.xml" in names else None


def check_shared_strings(path: str | Path, members: list[zipfile.ZipInfo]) -> None:
    """Refuse a shared-string table openpyxl could not hold in bounded memory: its size
    from the zip directory, then its entries counted while streaming, 1 MB at a time."""
    bounds = limits()
    with zipfile.ZipFile(path) as archive:
        part = _shared_strings_part(archive, {m.filename for m in members})
        if part is None:
            return
        size = archive.getinfo(part).file_size
        if size > bounds["max_shared_strings_bytes"]:
            raise ImportFileError(
                f"the spreadsheet's shared-string table is {size / MB:,.0f} MB; at most "
                f"{bounds['max_shared_strings_bytes'] / MB:,.0f} MB (save it as CSV)")
        most, count, carry = bounds["max_shared_strings"], 0, b""
        with archive.open(part) as stream:
            while True:
                block = stream.read(MB)
                buffer = carry + block
                edge = len(buffer) if not block else len(buffer) - _SI_TAIL
                last = 0
                for match in _SI.finditer(buffer):
                    if match.start() >= edge:  # whole in the carry: counted next time
                        break
                    count += 1
                    last = match.end()
                if count > most:
                    raise ImportFileError(
                        f"the spreadsheet's shared-string table holds more than {most:,} texts "
                        "(save it as CSV)")
                if not block:
                    return
                carry = buffer[max(last, edge):]


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
