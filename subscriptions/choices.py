from django.db import models


class OrganizationKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    PARTNER = "partner", "Partner"


class SubscriptionKind(models.TextChoices):
    SERVICE = "service", "Service"
    DID_RESERVATION = "did_reservation", "DID reservation"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    EXPIRED = "expired", "Expired"
    TERMINATED = "terminated", "Terminated"
