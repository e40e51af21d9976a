from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from .choices import OrganizationKind, SubscriptionKind, SubscriptionStatus


class Organization(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=OrganizationKind.choices, db_index=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        limit_choices_to={"kind": OrganizationKind.PARTNER},
        help_text="A customer's partner.",
    )
    billing_email = models.EmailField(blank=True, help_text="Customers: reservation notices.")
    owner_email = models.EmailField(blank=True, help_text="Partners: reservation notices.")
    support_email = models.EmailField(blank=True, help_text="Partners: lock notices.")
    domain = models.CharField(
        max_length=253, blank=True, db_index=True, help_text="A partner's domain."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # the audit log: who changed what, when, and why (64-bit ids: bulk sweeps pass 2**31 rows)
    history = HistoricalRecords(history_id_field=models.BigAutoField(primary_key=True))

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=OrganizationKind.values), name="organization_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display().lower()})"

    @property
    def is_partner(self) -> bool:
        return self.kind == OrganizationKind.PARTNER

    @property
    def notice_email(self) -> str:
        """Where reservation notices go: a customer's billing, a partner's owner address."""
        return self.owner_email if self.is_partner else self.billing_email

    @property
    def partner_id(self) -> int | None:
        """The partner this organization belongs to (itself when it is one)."""
        return self.pk if self.is_partner else self.parent_id


class Subscriber(models.Model):
    username = models.CharField(max_length=150, unique=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="subscribers"
    )
    history = HistoricalRecords(history_id_field=models.BigAutoField(primary_key=True))

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username


class Subscription(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="subscriptions"
    )
    kind = models.CharField(max_length=20, choices=SubscriptionKind.choices, db_index=True)
    plan = models.CharField(max_length=100, blank=True, help_text="The package sold.")
    status = models.CharField(
        max_length=16,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.ACTIVE,
        db_index=True,
        editable=False,
        help_text="Changed only through the subscription actions, so numbers follow.",
    )
    current_period_end = models.DateTimeField(null=True, blank=True, db_index=True)
    number_allowance = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many numbers it may hold; empty = unlimited."
    )
    subscriber = models.CharField(max_length=150, blank=True, help_text="Username, optional.")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(history_id_field=models.BigAutoField(primary_key=True))

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=SubscriptionKind.values), name="subscription_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SubscriptionStatus.values),
                name="subscription_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan or self.get_kind_display()} · {self.organization.name} · {self.uuid}"

    def holds_numbers(self) -> bool:
        """Numbers point at it (assigned, or charged reservations of a DID reservation)."""
        return bool(self.pk) and (
            self.numbers.exists()  # type: ignore[attr-defined]
            or self.charged_reservations.filter(status="active").exists()  # type: ignore[attr-defined]
        )


def refuse_staff_partner(*, username: str, organization: Organization, is_staff: bool,
                         is_superuser: bool) -> None:
    """A partner user (dashboard) is never staff and staff never a partner user: one account
    would then see the partner's dashboard and everyone's numbers in the admin."""
    if is_staff or is_superuser:
        raise ValidationError(
            f"{username} is a staff user and would be a partner user of {organization.name}; "
            "partner users are never staff. Use a separate account for each."
        )


class PartnerMembership(models.Model):
    """A partner staff user: sees the partner's numbers on the dashboard, never staff."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_membership"
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="memberships",
        limit_choices_to={"kind": OrganizationKind.PARTNER},
    )
    history = HistoricalRecords(history_id_field=models.BigAutoField(primary_key=True))

    def __str__(self) -> str:
        return f"{self.user} → {self.organization.name}"

    def clean(self) -> None:
        if self.user_id and self.organization_id:
            refuse_staff_partner(username=self.user.username, organization=self.organization,
                                 is_staff=self.user.is_staff, is_superuser=self.user.is_superuser)
