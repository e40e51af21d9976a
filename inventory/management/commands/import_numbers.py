"""manage.py import_numbers FILE [--dry-run] [--country CC] [--valid-only] [--user NAME] [--errors OUT]
                              [--map "Phone No.=number,Carrier=vendor"] [--vendor NAME] [--sku CODE]

Headers are read by name and by the known aliases ("Phone No.", "DID", "Carrier",
"Status", "Client"…); `--map` names the others (`Header=field`, `Header=` to ignore one),
else the mapping last saved for these headers in the admin applies. `--vendor`, `--sku`
and `--country` stand in for a column the file does not have.

Exit status: 0 when the file was imported (with --dry-run: when it would import cleanly),
1 when rows were refused (all or nothing: nothing was imported), 2 when the file itself
cannot be read (size, format, header). Each refused row is printed on stderr with its row
number, column and reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from inventory import imports


class Command(BaseCommand):
    help = "Import numbers from a CSV, XLSX or XLS file (all or nothing unless --valid-only)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV, XLSX or XLS with a header row")
        parser.add_argument("--dry-run", action="store_true",
                            help="check everything and report, write nothing")
        parser.add_argument("--country", help="country (ISO alpha-2) for numbers without + and "
                                              "country code in rows that have no country")
        parser.add_argument("--valid-only", action="store_true",
                            help="import the valid rows and skip refused ones (default: all or nothing)")
        parser.add_argument("--user", help="username the history names (default: the system user)")
        parser.add_argument("--errors", metavar="OUT.csv", help="also write every refused row to this CSV")
        parser.add_argument("--map", action="append", default=[], metavar='"Header=field,…"',
                            help="read a column as a field (number, vendor, sku, state, …), or "
                                 "ignore it with 'Header='; may be repeated")
        parser.add_argument("--vendor", help="vendor (name) of every row, for a file without a vendor column")
        parser.add_argument("--sku", help="SKU (code) of every row, for a file without a sku column")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file", returncode=2)
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"no user {options['user']!r}", returncode=2)
        verbose = options["verbosity"] >= 2
        mapping = self._mapping(options["map"])
        country, vendor, sku = options["country"], options["vendor"], options["sku"]
        if mapping is None:
            # No --map: the mapping the admin remembered for these headers, if any.
            try:
                remembered = imports.import_options(imports.header_read(path), country=country or "")
            except imports.ImportFileError:
                remembered = imports.ImportOptions()  # the import says why
            mapping = remembered.mapping
            vendor, sku = vendor or remembered.vendor, sku or remembered.sku
            country = country or remembered.country

        def progress(rows: int) -> None:
            if verbose:
                self.stdout.write(f"  {rows:,} rows read", ending="\r")
                self.stdout.flush()

        error_stream = open(options["errors"], "w", encoding="utf-8-sig", newline="") \
            if options["errors"] else None  # noqa: SIM115
        try:
            summary = imports.import_file(
                path, actor=actor, name=path.name, country=country,
                all_or_nothing=not options["valid_only"], dry_run=options["dry_run"],
                progress=progress, error_stream=error_stream, mapping=mapping, vendor=vendor, sku=sku,
            )
        finally:
            if error_stream is not None:
                error_stream.close()
        for error in summary.errors:
            self.stderr.write(str(error))
        if summary.error_count > len(summary.errors):
            more = summary.error_count - len(summary.errors)
            self.stderr.write(f"… and {more:,} more errors" + (
                f" (all of them are in {options['errors']})" if options["errors"] else
                " (use --errors OUT.csv to get all of them)"))
        if summary.file_error:
            raise CommandError(summary.message(), returncode=2)
        if (summary.dry_run or not summary.imported) and summary.refused:
            raise CommandError(summary.message(), returncode=1)
        self.stdout.write(f"{summary.message()} ({summary.seconds:,.1f} s)")
        sys.stdout.flush()

    @staticmethod
    def _mapping(values: list[str]) -> dict[str, str] | None:
        """--map "Phone No.=number,Carrier=vendor" (repeatable) → {header: field}."""
        if not values:
            return None
        mapping: dict[str, str] = {}
        for value in values:
            for item in (part.strip() for part in value.split(",")):
                if not item:
                    continue
                header, equals, target = item.rpartition("=")
                if not equals or not header.strip():
                    raise CommandError(f"--map {item!r}: write Header=field (or Header= to ignore it)",
                                       returncode=2)
                mapping[header.strip()] = target.strip()
        return mapping
