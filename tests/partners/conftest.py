"""A small world with two partners, for the dashboard's behaviour and isolation tests."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

PASSWORD = "partner-pass-4821"


@pytest.fixture
def make_partner_user(db):
    from subscriptions.models import PartnerMembership

    def make(username, organization):
        user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)
        PartnerMembership.objects.create(user=user, organization=organization)
        return user

    return make


@pytest.fixture
def world(partner, other_partner, customer, other_customer, make_subscription, make_numbers,
          make_partner_user, ops_user, now):
    """Numbers of every kind: ours (via the partner, its customer, offered to it) and theirs."""
    from inventory.services import number_assign, number_lock, number_reserve
    from subscriptions.models import Organization

    second_customer = Organization.objects.create(name="Delta Customer", kind="customer",
                                                  parent=partner, billing_email="b@delta.example")
    service = make_subscription(customer, plan="Business DID")
    other_service = make_subscription(other_customer, plan="Other Plan")

    ours_available = make_numbers(2, start="+6560000100", visible_to=partner, tags="vip;promo",
                                  is_golden=True)
    ours_reserved = make_numbers(3, start="+6560000200", tags="promo", is_ported_in=True)
    ours_assigned = make_numbers(2, start="+6560000300", sms=True)
    ours_own = make_numbers(1, start="+6560000400")
    ours_second = make_numbers(1, start="+6560000500")
    theirs_available = make_numbers(2, start="+6560000600", visible_to=other_partner, tags="promo",
                                    is_golden=True)
    theirs_reserved = make_numbers(2, start="+6560000700", tags="promo")
    theirs_assigned = make_numbers(1, start="+6560000800", sms=True)
    unoffered = make_numbers(1, start="+6560000900")
    locked_offered = make_numbers(1, start="+6560000950", visible_to=partner)

    def ok(result):
        assert not result.rejected, result.rejected
        return result

    ok(number_reserve(numbers=ours_reserved, organization=customer, actor=ops_user,
                      remark="held for Beta's rollout", reserved_for="alice", now=now))
    ok(number_assign(numbers=ours_assigned, subscription=service, actor=ops_user, remark="go",
                     now=now))
    ok(number_reserve(numbers=ours_own, organization=partner, actor=ops_user, remark="stock",
                      now=now))
    ok(number_reserve(numbers=ours_second, organization=second_customer, actor=ops_user,
                      remark="delta", now=now))
    ok(number_reserve(numbers=theirs_reserved, organization=other_customer, actor=ops_user,
                      remark="SECRET-REMARK other", reserved_for="mallory", now=now))
    ok(number_assign(numbers=theirs_assigned, subscription=other_service, actor=ops_user,
                     remark="other go", now=now))
    ok(number_lock(numbers=locked_offered, actor=ops_user, remark="lock", now=now))

    return SimpleNamespace(
        partner=partner, other_partner=other_partner, customer=customer,
        second_customer=second_customer, other_customer=other_customer, service=service,
        other_service=other_service,
        ours_available=ours_available, ours_reserved=ours_reserved, ours_assigned=ours_assigned,
        ours_own=ours_own, ours_second=ours_second,
        theirs_available=theirs_available, theirs_reserved=theirs_reserved,
        theirs_assigned=theirs_assigned, unoffered=unoffered, locked_offered=locked_offered,
        ours=ours_available + ours_reserved + ours_assigned + ours_own + ours_second,
        theirs=theirs_available + theirs_reserved + theirs_assigned,
        user=make_partner_user("acme-anna", partner),
        other_user=make_partner_user("other-olga", other_partner),
        now=now, day=dt.timedelta(days=1),
    )


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login
