"""The global audit log page: every tracked model's history, newest first, its filters,
its pages without a count, its links, its permission, and nothing a user typed runs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.selectors import AuditFilters, audit_log_page
from inventory.models import Sku, Vendor
from subscriptions.models import Organization

pytestmark = pytest.mark.django_db
URL = reverse("admin:audit_auditlog_changelist")


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", "x", is_staff=True)


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", "bob@example.com", "x", is_staff=True)


def save_as(obj, user, *, when=None, reason=None):
    obj._history_user = user
    if when is not None:
        obj._history_date = when
    if reason is not None:
        obj._change_reason = reason
    obj.save()
    return obj


def rows(response) -> list[tuple[str, str, str]]:
    """(user, record type, record) per row of the table, as shown."""
    html = response.content.decode()
    found = []
    for row in re.findall(r'<tr class="audit-entry".*?</tr>', html, flags=re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        found.append((cells[1], cells[2], cells[3]))
    return found


def test_lists_every_tracked_model_newest_first_with_links(ops, alice, partner, vendor, sku, make_numbers):
    [number] = make_numbers(1, start="+6560000000")
    save_as(vendor, alice, reason="renamed")
    response = ops.get(URL)
    assert response.status_code == 200
    shown = rows(response)
    assert shown[0] == ("alice", "Vendor", "Singtel Wholesale")
    types = {t for _, t, _ in shown}
    assert {"Vendor", "SKU", "Organization", "Number"} <= types
    html = response.content.decode()
    assert "renamed" in html
    assert reverse("admin:inventory_vendor_change", args=[vendor.pk]) in html
    assert reverse("admin:inventory_vendor_history", args=[vendor.pk]) in html
    assert reverse("admin:inventory_phonenumber_change", args=[number.pk]) in html
    assert reverse("admin:subscriptions_organization_history", args=[partner.pk]) in html


def test_filter_by_user(ops, alice, bob, vendor, sku):
    save_as(vendor, alice)
    save_as(sku, bob)
    alice_rows = rows(ops.get(URL, {"user": alice.pk}))
    assert alice_rows == [("alice", "Vendor", "Singtel Wholesale")]
    assert rows(ops.get(URL, {"user": bob.pk})) == [("bob", "SKU", "SG-DID-STD")]


def test_filter_by_model(ops, alice, vendor, sku, partner):
    save_as(vendor, alice)
    shown = rows(ops.get(URL, {"model": "inventory.sku"}))
    assert shown and {t for _, t, _ in shown} == {"SKU"}


def test_filter_by_date_range(ops, alice, vendor):
    days = [dt.datetime(2026, 3, d, 12, tzinfo=dt.UTC) for d in (1, 2, 3)]
    for i, day in enumerate(days):
        vendor.notes = f"change {i}"
        save_as(vendor, alice, when=day, reason=f"day {day.day}")
    response = ops.get(URL, {"date_from": "2026-03-02", "date_to": "2026-03-02"})
    html = response.content.decode()
    assert len(rows(response)) == 1 and "day 2" in html and "day 1" not in html and "day 3" not in html
    assert len(rows(ops.get(URL, {"date_from": "2026-03-02"}))) >= 2  # day 2, day 3 and today's creation


def test_filter_by_number_prefix_lists_only_those_numbers(ops, vendor, sku, make_numbers):
    make_numbers(3, start="+6560000000")
    make_numbers(2, start="+6591000000")
    shown = rows(ops.get(URL, {"number": "+6591"}))
    assert sorted(r for _, _, r in shown) == ["+6591000000", "+6591000001"]
    assert {t for _, t, _ in shown} == {"Number"}
    assert sorted(r for _, _, r in rows(ops.get(URL, {"number": "6560 000 001"}))) == ["+6560000001"]


def test_bad_filters_are_messages_not_errors(ops):
    response = ops.get(URL, {"number": "+65abc", "date_from": "2026-03-05", "date_to": "2026-03-01",
                             "after": "garbage"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter the start of a number in E.164" in html
    assert "The end date is before the start date." in html
    assert "This page link is damaged" in html
    assert 'id="audit-log"' not in html


def test_user_typed_text_is_escaped(ops, alice):
    org = Organization.objects.create(name="<script>alert('x')</script>", kind="customer")
    org.billing_email = "b@example.com"
    save_as(org, alice, reason="<img src=x onerror=alert(1)>")
    html = ops.get(URL).content.decode()
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_page_two_follows_page_one_without_a_count(ops, alice, vendor):
    for i in range(60):
        vendor.notes = f"n{i}"
        save_as(vendor, alice)
    with CaptureQueriesContext(connection) as queries:
        first = ops.get(URL, {"user": alice.pk})
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    html = first.content.decode()
    assert len(rows(first)) == 50
    next_url = re.search(r'<a href="([^"]+)" id="audit-next">', html).group(1).replace("&amp;", "&")
    second = ops.get(URL + next_url)
    assert len(rows(second)) == 10 and 'id="audit-next"' not in second.content.decode()
    assert 'id="audit-first"' in second.content.decode()


def test_pages_split_rows_of_the_same_instant_across_models_exactly_once(alice, partner):
    """The cursor orders by (date, model, history id), so ties never repeat or vanish."""
    when = dt.datetime(2026, 5, 1, 9, tzinfo=dt.UTC)
    objs = [Vendor.objects.create(name="V1"), Sku.objects.create(code="S1"), partner,
            Vendor.objects.create(name="V2"), Sku.objects.create(code="S2")]
    for obj in objs:
        save_as(obj, alice, when=when)
    filters = AuditFilters(user_id=alice.pk)
    seen, cursor = [], None
    while True:
        page = audit_log_page(filters=filters, cursor=cursor, page_size=2)
        seen.extend((e.model._meta.label_lower, e.record.history_id) for e in page.entries)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 5


def test_needs_the_audit_permission(client, alice):
    client.force_login(alice)
    assert client.get(URL).status_code == 403
    permission = Permission.objects.get(codename="view_auditlog", content_type__app_label="audit")
    alice.user_permissions.add(permission)
    assert client.get(URL).status_code == 200
    assert "Audit log" in client.get(reverse("admin:index")).content.decode()


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response.url

