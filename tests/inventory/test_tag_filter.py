"""The tag filter (one FilterSet for the admin, the dashboard, the export and the API) matches
one whole tag: not a longer tag that starts or ends with it, on either database."""

from __future__ import annotations

import pytest

from inventory.filters import filter_numbers
from inventory.models import PhoneNumber


@pytest.mark.django_db
def test_a_tag_filter_matches_the_whole_tag_only(make_numbers):
    make_numbers(1, start="+6560000000", tags="batch-3")
    make_numbers(1, start="+6560000001", tags="promo;batch-3")
    make_numbers(1, start="+6560000002", tags="batch-30")
    make_numbers(1, start="+6560000003", tags="xbatch-3")
    make_numbers(1, start="+6560000004")

    def tagged(value: str) -> list[str]:
        queryset, _ = filter_numbers(PhoneNumber.objects.order_by("e164"), {"tags": value})
        return list(queryset.values_list("e164", flat=True))

    assert tagged("batch-3") == ["+6560000000", "+6560000001"]
    assert tagged(" ;batch-30; ") == ["+6560000002"]
    assert tagged("promo") == ["+6560000001"]
    assert tagged("batch") == []
    assert len(tagged("")) == 5  # no tag: no filter
