from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from api.keys import api_key_revoke


class Command(BaseCommand):
    help = "Revoke the usable API key with this name (cannot be undone)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")

    def handle(self, *args, name: str, **options) -> None:
        if not api_key_revoke(name=name):
            raise CommandError(f"No usable API key named {name!r}.")
        self.stdout.write(f"Revoked API key {name!r}.")
