from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.keys import api_key_create


class Command(BaseCommand):
    help = "Create an API key for an integration; the key is printed once, alone on the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--group", help="ops key: the service user's group, e.g. Ops")
        who.add_argument("--partner", help="partner key (read-only): the partner's uuid or domain")
        parser.add_argument("--expires", type=int, metavar="DAYS", help="expires after DAYS days")

    def handle(self, *args, name: str, group: str | None, partner: str | None,
               expires: int | None, **options) -> None:
        try:
            key, secret = api_key_create(name=name, group=group, partner=partner, expires_days=expires)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        ends = f", expires {key.expiry_date:%Y-%m-%d %H:%M} UTC" if key.expiry_date else ""
        self.stdout.write(f"Created {key.kind} key {key.name!r} (prefix {key.prefix}, service user "
                          f"{key.user.username}{ends}). Store it now: it is not shown again.")
        self.stdout.write(secret)
