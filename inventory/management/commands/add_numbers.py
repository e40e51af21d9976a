"""manage.py add_numbers SPEC --vendor NAME --sku CODE [--country CC]

SPEC is numbers and inclusive ranges separated by commas or new lines, e.g.
"+6560000000-+6560099999,+6567000001"; "-" reads SPEC from standard input. No range limit here:
a long range is added in pieces of 100,000 (one transaction each), so memory stays flat; a
rerun after an interruption adds only what is missing (existing numbers are refused as such).
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from inventory.choices import NumberState
from inventory.numbers import spec_chunks
from inventory.services import ServiceError, number_add


class Command(BaseCommand):
    help = "Add numbers and ranges to the inventory (through inventory.services.number_add)."

    def add_arguments(self, parser):
        parser.add_argument("spec", help='numbers and ranges, or "-" for standard input')
        parser.add_argument("--vendor", required=True, help="vendor name")
        parser.add_argument("--sku", required=True, help="SKU code")
        parser.add_argument("--country", help="ISO country for national formats, e.g. SG")
        parser.add_argument("--state", choices=[NumberState.AVAILABLE, NumberState.LOCKED],
                            default=NumberState.AVAILABLE)
        parser.add_argument("--golden", action="store_true")
        parser.add_argument("--ported-in", action="store_true")
        parser.add_argument("--tags", default="", help="tags separated by ;")
        parser.add_argument("--notes", default="")
        parser.add_argument("--remark", default="added from the command line")
        parser.add_argument("--chunk", type=int, default=100_000,
                            help="numbers per piece (one transaction each); default 100,000")

    def handle(self, *args, **o):
        spec = sys.stdin.read() if o["spec"] == "-" else o["spec"]
        attrs = {"is_golden": o["golden"], "is_ported_in": o["ported_in"], "notes": o["notes"]}
        if o["tags"]:
            attrs["tags"] = o["tags"]
        added, refused, shown = 0, 0, 0
        for piece in spec_chunks(spec, country=o["country"], size=max(1, o["chunk"])):
            try:
                result = number_add(numbers=piece, vendor=o["vendor"], sku=o["sku"],
                                    country=o["country"], actor=None, state=o["state"],
                                    remark=o["remark"], **attrs)
            except ServiceError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            added += len(result.done)
            refused += len(result.rejected)
            for item, reason in list(result.rejected.items())[: max(0, 200 - shown)]:
                self.stderr.write(f"refused {item}: {reason}")
                shown += 1
        if refused > shown:
            self.stderr.write(f"… and {refused - shown} more refused")
        self.stdout.write(f"{added} added, {refused} refused")
        if refused and not added:
            raise CommandError("nothing was added")
