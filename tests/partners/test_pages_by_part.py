"""The dashboard reads its scope part by part (inventory.selectors.scope_parts): the parts are
exactly numbers_visible_to, and the table's pages read that way are the pages of the plain
ordering, whatever the sort, page or filter."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from inventory.models import PhoneNumber
from inventory.selectors import numbers_visible_to, scope_parts
from partners.filters import PartnerNumberFilterSet
from partners.selectors import partner_count, partner_page

pytestmark = pytest.mark.django_db


def test_the_parts_are_exactly_the_scope_and_do_not_overlap(world):
    parts = [set(PhoneNumber.objects.filter(q).values_list("pk", flat=True))
             for q, _ in scope_parts(world.user)]
    scope = set(numbers_visible_to(world.user).values_list("pk", flat=True))
    assert set().union(*parts) == scope == {n.pk for n in world.ours}
    assert sum(len(p) for p in parts) == len(scope)  # disjoint
    assert scope_parts(world.other_user) and not scope_parts(None)


@pytest.mark.postgres
@pytest.mark.parametrize("query", ["", "sort=-number", "sort=customer", "sort=-customer",
                                   "state=reserved&sort=-number", "number=*00", "tags=promo"])
def test_a_page_read_by_part_is_the_plain_ordering_page(world, query):
    def filtered(base):
        return PartnerNumberFilterSet(QueryDict(query), queryset=base, partner=world.partner).qs

    plain = list(filtered(numbers_visible_to(world.user)).values_list("e164", flat=True))
    sort = QueryDict(query).get("sort", "")
    for offset, limit in [(0, 3), (2, 4), (0, 50), (len(plain) - 1, 5)]:
        rows = partner_page(world.user, filtered, sort=sort, offset=max(offset, 0), limit=limit)
        assert rows is not None
        assert [n.e164 for n in rows] == plain[max(offset, 0): max(offset, 0) + limit], (offset, limit)
    assert partner_count(world.user, filtered, cap=4) == min(len(plain), 4)
    assert partner_count(world.user, filtered, cap=1000) == len(plain)


def test_another_sort_is_left_to_the_plain_ordering(world):
    def filtered(base):
        return base

    assert partner_page(world.user, filtered, sort="expires", offset=0, limit=5) is None


@pytest.mark.parametrize("limit", [1, 2, 5, 6, 20])
def test_ending_next_read_by_holder_is_the_scopes_next_ends(world, limit):
    from django.utils import timezone

    from inventory.choices import NumberState
    from partners.selectors import partner_ending_soon, partner_summary

    now = timezone.now()
    per_day = partner_summary(world.user, now=now)["per_day"]
    rows = partner_ending_soon(world.user, per_day=per_day, now=now, limit=limit)
    reserved = list(numbers_visible_to(world.user).filter(state=NumberState.RESERVED, expires_at__gte=now)
                    .order_by("expires_at", "pk"))
    # The same ends as the scope's first `limit`, each a reservation in scope (ties: any of them).
    assert [n.expires_at for n in rows] == [n.expires_at for n in reserved[:limit]]
    assert {n.pk for n in rows} <= {n.pk for n in reserved}
    assert all(n.organization_id in {world.partner.pk, world.customer.pk, world.second_customer.pk}
               for n in rows)


def test_table_pages_and_capped_count_whichever_read_serves_them(world, client_for, make_numbers,
                                                                 monkeypatch):
    # Few matches (PostgreSQL's estimate): page and count from one read of ordered ids; further
    # pages and SQLite: the plain page and count. The pages together are the plain ordering.
    import partners.views as views

    make_numbers(40, start="+6560001000", visible_to=world.partner, tags="promo")
    monkeypatch.setattr(views, "PER_PAGE", 10)
    monkeypatch.setattr(views, "COUNT_CAP", 30)
    client = client_for(world.user)
    plain = list(numbers_visible_to(world.user).filter(tags__contains=";promo;")
                 .order_by("e164").values_list("e164", flat=True))
    assert len(plain) == 45
    seen = []
    for page in range(1, 6):
        response = client.get("/partner/numbers/", {"tags": "promo", "page": page})
        seen += [n.e164 for n in response.context["rows"]]
        assert response.context["capped"] and response.context["has_next"] == (page < 5)
    assert seen == plain
