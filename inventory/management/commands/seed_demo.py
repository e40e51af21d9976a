"""Demo data for `make run`: partners, customers, subscriptions and numbers in every state.

Every number is created and moved through the services, so the demo has real history and
reservations. Safe to rerun: it does nothing when the demo partner already exists.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from inventory.choices import NumberState, PolicyCause
from inventory.models import LifecyclePolicy, PhoneNumber, Sku, Vendor
from inventory.services import (
    number_add,
    number_assign,
    number_delete,
    number_extend,
    number_lock,
    number_release,
    number_reserve,
)
from notifications.services import notices_queue_due
from subscriptions.models import Organization, PartnerMembership, Subscriber, Subscription
from subscriptions.services import subscription_set_status

DEMO_PARTNER = "Acme Telecom Partners"


class Command(BaseCommand):
    help = "Load demo data (idempotent): partners, customers, subscriptions, ~3,000 numbers."

    def handle(self, *args, **options):
        if Organization.objects.filter(name=DEMO_PARTNER).exists():
            self.stdout.write("Demo data already loaded.")
            return
        with transaction.atomic():
            self._seed()
        # The Notices list shows the reservations and locks ending soon at once, not after the
        # first 15-minute beat run.
        queued = notices_queue_due()
        counts = {s: PhoneNumber.objects.filter(state=s).count() for s in NumberState.values}
        self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {counts}; {queued} notices queued"))
        self.stdout.write("Users: ops/ops (Ops), viewer/viewer (Ops read-only), "
                          "partner/partner (dashboard of " + DEMO_PARTNER + ")")

    def _seed(self) -> None:
        now = timezone.now()
        User = get_user_model()
        ops = self._user("ops", "Ops", staff=True)
        self._user("viewer", "Ops read-only", staff=True)

        vendors = [Vendor.objects.get_or_create(name=n)[0]
                   for n in ("Singtel Wholesale", "StarHub Carrier", "M1 Trunks")]
        std = Sku.objects.get_or_create(code="SG-DID-STD", defaults={"name": "Standard DID"})[0]
        gold = Sku.objects.get_or_create(code="SG-DID-GOLD", defaults={"name": "Golden DID"})[0]
        ported = Sku.objects.get_or_create(
            code="SG-DID-PORT", defaults={"name": "Ported-in DID", "sms": True}
        )[0]
        LifecyclePolicy.objects.get_or_create(
            cause=PolicyCause.COOLING, country="", sku=ported, is_ported_in=None,
            defaults={"period_days": 14, "notes": "demo: ported numbers cool 14 days before reuse"},
        )

        acme = Organization.objects.create(
            name=DEMO_PARTNER, kind="partner", owner_email="owner@acme.example",
            support_email="support@acme.example", domain="acme.example")
        globex = Organization.objects.create(
            name="Globex Reseller", kind="partner", owner_email="owner@globex.example",
            support_email="support@globex.example", domain="globex.example")
        customers = [
            Organization.objects.create(name=name, kind="customer", parent=parent,
                                        billing_email=f"billing@{slug}.example")
            for name, slug, parent in [
                ("Beta Logistics", "beta", acme), ("Cyan Clinics", "cyan", acme),
                ("Delta Foods", "delta", acme), ("Echo Finance", "echo", globex),
                ("Foxtrot Retail", "foxtrot", globex), ("Golf Direct", "golf", None),
            ]
        ]
        for i, org in enumerate(customers):
            Subscriber.objects.create(username=f"user{i}@{org.name.split()[0].lower()}", organization=org)
        services = [
            Subscription.objects.create(
                organization=org, kind="service", plan=["Business DID", "Contact Centre"][i % 2],
                number_allowance=[None, 500, 200][i % 3], subscriber=f"user{i}@{org.name.split()[0].lower()}",
                current_period_end=now + dt.timedelta(days=30 + i))
            for i, org in enumerate(customers)
        ]
        dids = [
            Subscription.objects.create(organization=org, kind="did_reservation", plan="DID Reservation",
                                        current_period_end=now + dt.timedelta(days=90))
            for org in (customers[0], customers[3], acme)
        ]
        user = User.objects.create_user("partner", "partner@acme.example", "partner")
        PartnerMembership.objects.create(user=user, organization=acme)

        def add(spec, vendor, sku, **attrs):
            return number_add(numbers=spec, vendor=vendor, sku=sku, actor=ops, remark="demo stock",
                              **attrs).done

        std_block = add("+6560010000-+6560011999", vendors[0], std)
        add("+6560012000-+6560012399", vendors[1], std, sms=True, visible_to=acme, tags="promo")
        golden = add("+6560088000-+6560088099", vendors[0], gold, is_golden=True, tags="vip")
        port = add("+6560013000-+6560013199", vendors[2], ported, is_ported_in=True)
        locked = add("+6560014000-+6560014149", vendors[2], std, state="locked")
        add("+6560014150-+6560014199", vendors[2], std, state="locked", expires_at=None,
            notes="legacy permanent lock (imported)")

        def reserve(numbers, org, when=now, **kw):
            return number_reserve(numbers=numbers, organization=org, actor=ops,
                                  remark=f"demo: held for {org.name}", now=when, **kw)

        # Reserved: some ending within 7 days (reserved 24 days ago), some for a named subscriber.
        reserve(std_block[0:150], customers[0])
        reserve(std_block[150:250], customers[1], when=now - dt.timedelta(days=24))
        reserve(std_block[250:300], acme)
        reserve(std_block[300:340], customers[3], reserved_for=services[3].subscriber)
        reserve(golden[0:10], customers[0])
        number_extend(numbers=std_block[0:40], did_reservation=dids[0], actor=ops,
                      remark="demo: customer pays to keep these")
        # Assigned.
        for i, sub in enumerate(services):
            chunk = std_block[400 + i * 120: 400 + (i + 1) * 120]
            number_assign(numbers=chunk, subscription=sub, actor=ops, remark="demo: in service")
        # An expired subscription hands its numbers back, reserved for 56 days.
        subscription_set_status(subscription=services[5], status="expired", actor=ops)
        # A suspended subscription's numbers wait in hold (the Hold tab).
        subscription_set_status(subscription=services[4], status="suspended", actor=ops)
        # Locked: ending within 7 days for a few.
        number_lock(numbers=std_block[1200:1230], actor=ops, remark="demo: fraud check",
                    now=now - dt.timedelta(days=23))
        # Cooling: ported numbers released cool for 14 days.
        reserve(port[0:60], customers[2])
        number_release(numbers=port[0:60], actor=ops, remark="demo: customer gave them back")
        # Deleted.
        number_delete(numbers=locked[0:40], reason="returned_to_vendor", actor=ops,
                      remark="demo: vendor took them back")
        number_delete(numbers=std_block[1900:1930], reason="faulty", actor=ops,
                      remark="demo: no dial tone")

    def _user(self, username: str, group: str, *, staff: bool):
        User = get_user_model()
        user = User.objects.filter(username=username).first() or User.objects.create_user(
            username, f"{username}@numbermgmt.example", username, is_staff=staff)
        user.groups.add(Group.objects.get(name=group))
        return user
