"""manage.py export_numbers [filters] --format csv|xlsx -o FILE

The filters are the search fields of the admin and the dashboard (inventory.filters.
NumberFilterSet), e.g. `--state reserved --vendor "M1 Trunks" --number "+6566*"`. Rows are
streamed; free-text cells that a spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import sys

import django_filters
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict

from inventory import exports
from inventory.filters import NumberFilterSet, filter_numbers
from inventory.models import PhoneNumber

BOOLEAN_WORDS = {"yes": "true", "y": "true", "1": "true", "true": "true",
                 "no": "false", "n": "false", "0": "false", "false": "false"}


class Command(BaseCommand):
    help = "Export numbers (filtered like the admin list) to CSV or XLSX."

    def add_arguments(self, parser):
        filters = parser.add_argument_group("filters (as in the admin and the dashboard)")
        for name, spec in NumberFilterSet.base_filters.items():
            option = "--" + name.replace("_", "-")
            help_text = str(spec.extra.get("help_text") or spec.label or name)
            if isinstance(spec, django_filters.MultipleChoiceFilter):
                choices = [str(value) for value, _ in spec.extra.get("choices", [])]
                filters.add_argument(option, dest=f"filter_{name}", action="append",
                                     choices=choices or None, help=f"{help_text} (repeatable)")
            else:
                filters.add_argument(option, dest=f"filter_{name}", help=help_text)
        parser.add_argument("--format", choices=sorted(exports.CONTENT_TYPES), default="csv")
        parser.add_argument("-o", "--output", required=True,
                            help="file to write; '-' writes CSV to standard output")

    def handle(self, *args, **options):
        params = QueryDict(mutable=True)
        for name, spec in NumberFilterSet.base_filters.items():
            value = options.get(f"filter_{name}")
            if value in (None, [], ""):
                continue
            if isinstance(value, list):
                params.setlist(name, value)
            elif isinstance(spec, django_filters.BooleanFilter):
                word = BOOLEAN_WORDS.get(value.strip().lower())
                if word is None:
                    raise CommandError(f"--{name.replace('_', '-')}: {value!r} is not yes or no")
                params[name] = word
            else:
                params[name] = value
        try:
            queryset, _ = filter_numbers(PhoneNumber.objects.all(), params)
        except ValidationError as exc:
            raise CommandError(f"invalid filter: {' '.join(exc.messages)}") from None
        queryset = queryset.order_by("e164")
        fmt, output = options["format"], options["output"]
        try:
            if output == "-":
                if fmt != "csv":
                    raise CommandError("only CSV can be written to standard output")
                sys.stdout.flush()
                rows = exports.write_csv(queryset, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                rows = exports.write_export(queryset, fmt, output)
        except exports.ExportError as exc:
            raise CommandError(str(exc)) from None
        if output != "-":
            self.stdout.write(f"{rows:,} numbers written to {output}")
