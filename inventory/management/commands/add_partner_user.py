"""Give a user read access to a partner's dashboard (a PartnerMembership; never staff)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from subscriptions.models import Organization, PartnerMembership, refuse_staff_partner
from subscriptions.selectors import partner_find


def find_partner(value: str) -> Organization:
    """A partner by uuid, domain or exact name; anything else is an error that says why."""
    found = partner_find(value, by_name=True)
    if found is None:
        raise CommandError(f"No partner organization with uuid, domain or name {value!r}.")
    return found


class Command(BaseCommand):
    help = (
        "Create (or link) a partner user: a non-staff account that sees only its partner's "
        "numbers on /partner/. Prints a generated password for a new user unless --password."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--partner", required=True, help="Partner uuid, domain or exact name.")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", default=None,
                            help="Password for a new user (default: a generated one, printed).")

    def handle(self, *args, username: str, partner: str, email: str, password: str | None,
               **options):
        organization = find_partner(partner)
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            created = user is None
            generated = created and not password
            if user is None:
                password = password or secrets.token_urlsafe(12)
                try:  # the same validators as every password form (AUTH_PASSWORD_VALIDATORS)
                    validate_password(password, User(username=username, email=email))
                except ValidationError as exc:
                    raise CommandError("Password refused: " + " ".join(exc.messages)) from None
                user = User.objects.create_user(username, email, password)
            assert user is not None
            try:
                refuse_staff_partner(username=username, organization=organization,
                                     is_staff=user.is_staff, is_superuser=user.is_superuser)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            PartnerMembership.objects.update_or_create(
                user=user, defaults={"organization": organization}
            )
        self.stdout.write(self.style.SUCCESS(
            f"{username} {'created and ' if created else ''}linked to {organization.name} "
            f"({organization.uuid}); dashboard: /partner/"
        ))
        if generated:
            self.stdout.write(f"generated password (give it to the user once): {password}")
