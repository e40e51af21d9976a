"""manage.py add_numbers SPEC --vendor NAME --sku CODE [--country CC]

SPEC is numbers and inclusive ranges separated by commas or new lines, e.g.
"+6560000000-+6560099999,+6567000001"; "-" reads SPEC from standard input. No range limit here.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from inventory.choices import NumberState
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

    def handle(self, *args, **o):
        spec = sys.stdin.read() if o["spec"] == "-" else o["spec"]
        attrs = {"is_golden": o["golden"], "is_ported_in": o["ported_in"], "notes": o["notes"]}
        if o["tags"]:
            attrs["tags"] = o["tags"]
        try:
            result = number_add(numbers=spec, vendor=o["vendor"], sku=o["sku"], country=o["country"],
                                actor=None, state=o["state"], remark=o["remark"], **attrs)
        except ServiceError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        for item, reason in list(result.rejected.items())[:200]:
            self.stderr.write(f"refused {item}: {reason}")
        if len(result.rejected) > 200:
            self.stderr.write(f"… and {len(result.rejected) - 200} more refused")
        self.stdout.write(f"{len(result.done)} added, {len(result.rejected)} refused")
        if result.rejected and not result.done:
            raise CommandError("nothing was added")
