"""What a partner user sees on the dashboard: summary, table, filters, number page, export."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from partners.views import number_url

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[str]:
    return [n.e164 for n in response.context["rows"]]


def e164s(numbers) -> set[str]:
    return {n.e164 for n in numbers}


def csv_numbers(response) -> list[str]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return [row["Number"] for row in csv.DictReader(io.StringIO(text))]


# --- summary -------------------------------------------------------------------------------

def test_summary_counts_only_our_numbers(world, client_for):
    response = client_for(world.user).get("/partner/")
    assert response.status_code == 200
    counts = {s["value"]: s["count"] for s in response.context["states"]}
    assert counts == {"available": 2, "reserved": 5, "assigned": 2}
    assert response.context["total"] == 9
    holders = {h["name"]: h["total"] for h in response.context["holders"]}
    assert holders == {"Beta Customer": 5, "Acme Partner": 1, "Delta Customer": 1}
    html = response.content.decode()
    assert "Gamma Customer" not in html and "Other Partner" not in html


def test_summary_chart_and_lists(world, client_for):
    response = client_for(world.user).get("/partner/")
    chart = response.context["chart"]
    # The five reservations end 28 days from now (manual policy): one bar, inside 30 days.
    assert chart["total"] == 5
    assert [b["reserved"] for b in chart["bars"] if b["reserved"]] == [5]
    assert len(chart["bars"]) == 30
    busiest = next(b for b in chart["bars"] if b["reserved"])
    assert chart["busiest_day"] == busiest["day"] and busiest["peak"]
    html = response.content.decode()
    assert "<svg" in html and f"busiest day <strong>{busiest['day']:%-d %b}</strong>" in html
    # Every bar lies inside the viewBox, so the scaled SVG shows the whole month.
    assert all(chart["left"] <= b["x"] and b["x"] + b["w"] <= chart["right"] for b in chart["bars"])
    # A lock is never in a partner's scope: no Locks series or legend that is always empty.
    legend = html[html.index('id="chart-title"'):html.index("<svg")]
    assert "Reservations" in legend and "Lock" not in legend
    assert "bar-locked" not in html
    assert {n.e164 for n in response.context["ending_soon"]} == e164s(
        world.ours_reserved + world.ours_own + world.ours_second
    )
    assert {n.e164 for n in response.context["longest_available"]} == e164s(world.ours_available)


def test_chart_bar_links_to_that_days_numbers(world, client_for):
    client = client_for(world.user)
    bar = next(b for b in client.get("/partner/").context["chart"]["bars"] if b["total"])
    response = client.get(bar["href"])
    assert set(rows_of(response)) == e164s(world.ours_reserved + world.ours_own + world.ours_second)


def test_anonymous_is_sent_to_login(client, world):
    for url in ("/partner/", "/partner/numbers/", number_url(world.ours_reserved[0].e164),
                "/partner/numbers/export/?format=csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_a_user_without_partner_membership_gets_a_clear_403(world, ops_user, client_for):
    response = client_for(ops_user).get("/partner/")
    assert response.status_code == 403
    assert "not linked to a partner organization" in response.content.decode()


# --- the table ------------------------------------------------------------------------------

def test_table_lists_exactly_our_numbers_sorted(world, client_for):
    response = client_for(world.user).get("/partner/numbers/")
    assert rows_of(response) == sorted(e164s(world.ours))
    assert response.context["count"] == 9


@pytest.mark.parametrize("params, expected", [
    ({"state": "reserved"}, "ours_reserved ours_own ours_second"),
    ({"state": ["available", "assigned"]}, "ours_available ours_assigned"),
    ({"number": "+65600002*"}, "ours_reserved"),
    ({"number": "*020?"}, "ours_reserved"),
    ({"number": "+656000030"}, "ours_assigned"),
    ({"number": "0000"}, "ours"),
    ({"golden": "true"}, "ours_available"),
    ({"ported_in": "true"}, "ours_reserved"),
    ({"capability": "sms"}, "ours_assigned"),
    ({"tags": "promo"}, "ours_available ours_reserved"),
    ({"tags": "vip"}, "ours_available"),
    ({"reserved_for": "alice"}, "ours_reserved"),
    ({"country": "sg"}, "ours"),
    ({"sku": "SG-DID-STD"}, "ours"),
])
def test_each_filter_narrows_our_numbers(world, client_for, params, expected):
    want = set().union(*(e164s(getattr(world, name)) for name in expected.split()))
    response = client_for(world.user).get("/partner/numbers/", params)
    assert not response.context["form"].errors
    assert set(rows_of(response)) == want


def test_suffix_pattern_finds_one_number(world, client_for):
    response = client_for(world.user).get("/partner/numbers/", {"number": "*0301"})
    assert rows_of(response) == ["+6560000301"]


def test_customer_and_subscription_filters(world, client_for):
    client = client_for(world.user)
    response = client.get("/partner/numbers/", {"customer": str(world.customer.uuid)})
    assert set(rows_of(response)) == e164s(world.ours_reserved + world.ours_assigned)
    response = client.get("/partner/numbers/", {"customer": str(world.partner.uuid)})
    assert set(rows_of(response)) == e164s(world.ours_own)
    response = client.get("/partner/numbers/", {"subscription": str(world.service.uuid)})
    assert set(rows_of(response)) == e164s(world.ours_assigned)
    # Only our own customers are offered as choices.
    choices = {label for _, label in response.context["form"].fields["customer"].choices}
    assert choices == {"All customers", "Acme Partner (own)", "Beta Customer", "Delta Customer"}


def test_ends_between_filter(world, client_for):
    day = (world.now + 28 * world.day).date().isoformat()
    response = client_for(world.user).get(
        "/partner/numbers/", {"expires_after": day, "expires_before": day})
    assert set(rows_of(response)) == e164s(world.ours_reserved + world.ours_own + world.ours_second)


def test_sorting_both_ways(world, client_for):
    client = client_for(world.user)
    assert rows_of(client.get("/partner/numbers/", {"sort": "-number"})) == sorted(
        e164s(world.ours), reverse=True)
    by_customer = rows_of(client.get("/partner/numbers/", {"sort": "customer"}))
    assert by_customer[0] == world.ours_own[0].e164  # "Acme Partner" first; nulls last
    assert set(by_customer[-2:]) == e164s(world.ours_available)


def test_bad_pattern_is_a_form_error_not_a_traceback(world, client_for):
    response = client_for(world.user).get("/partner/numbers/", {"number": "65abc"})
    assert response.status_code == 200
    assert "number" in response.context["form"].errors
    assert rows_of(response) == []
    assert "not valid" in response.content.decode()


def test_pagination_without_full_count(world, client_for, make_numbers, monkeypatch):
    import partners.views as views

    make_numbers(60, start="+6560001000", visible_to=world.partner)
    client = client_for(world.user)
    first = client.get("/partner/numbers/")
    assert len(rows_of(first)) == 50 and first.context["has_next"]
    assert first.context["num_pages"] == 2
    second = client.get("/partner/numbers/", {"page": 2})
    assert len(rows_of(second)) == 19 and not second.context["has_next"]
    assert not set(rows_of(first)) & set(rows_of(second))
    # Above the cap the page says "more than" and still pages on.
    monkeypatch.setattr(views, "COUNT_CAP", 30)
    capped = client.get("/partner/numbers/", {"page": 2})
    assert capped.context["capped"] and capped.context["num_pages"] is None
    assert "more than 30" in capped.content.decode()
    assert len(rows_of(capped)) == 19
    assert client.get("/partner/numbers/", {"page": "nonsense"}).status_code == 200


# --- one number -----------------------------------------------------------------------------

def test_number_page_shows_reservation_and_timeline_without_remarks(world, client_for, ops_user):
    number = world.ours_reserved[0]
    response = client_for(world.user).get(number_url(number.e164))
    assert response.status_code == 200
    html = response.content.decode()
    assert number.e164 in html
    current = response.context["current"]
    assert current.organization == world.customer and current.reserved_for == "alice"
    # Added to the general pool (not ours), then reserved for our customer: the pool period
    # is told without detail, our period as a snapshot.
    timeline = response.context["timeline"]
    assert [e.title for e in timeline] == ["Visible to your organization",
                                           "Not visible to your organization"]
    assert ("Held by", "", "Beta Customer") in timeline[0].changes
    assert ("Reserved for", "", "alice") in timeline[0].changes
    assert timeline[1].changes == []
    assert "Beta Customer" in html and "Operations" in html
    # Remarks and staff user names are ops-only.
    assert "held for Beta" not in html
    assert ops_user.username not in [e.by for e in response.context["timeline"]]


def test_timeline_diff_of_a_number_offered_to_us(world, client_for, ops_user):
    from inventory.services import number_reserve

    number = world.ours_available[0]
    number_reserve(numbers=[number], organization=world.second_customer, actor=ops_user,
                   remark="internal: Delta asked by phone", reserved_for="bob")
    response = client_for(world.user).get(number_url(number.e164))
    timeline = response.context["timeline"]
    assert [e.title for e in timeline] == ["Available → Reserved", "Added to the inventory"]
    changes = {label: (old, new) for label, old, new in timeline[0].changes}
    assert changes["State"] == ("Available", "Reserved")
    assert changes["Held by"] == ("—", "Delta Customer")
    assert changes["Reserved for"] == ("—", "bob")
    assert timeline[0].by == "Operations"
    assert "Delta asked by phone" not in response.content.decode()


@pytest.mark.parametrize("form", ["encoded", "raw", "digits"])
def test_number_url_forms(world, client_for, form):
    e164 = world.ours_assigned[0].e164
    path = {"encoded": f"/partner/numbers/%2B{e164[1:]}/", "raw": f"/partner/numbers/{e164}/",
            "digits": f"/partner/numbers/{e164[1:]}/"}[form]
    response = client_for(world.user).get(path)
    assert response.status_code == 200
    assert response.context["number"].e164 == e164


def test_table_links_use_the_encoded_form(world, client_for):
    html = client_for(world.user).get("/partner/numbers/").content.decode()
    assert f'href="/partner/numbers/%2B{world.ours_own[0].e164[1:]}/"' in html


def test_timeline_hides_the_previous_holder(world, client_for, ops_user, now):
    """A number that another partner's customer held, then ours: only our period is told."""
    from inventory.services import number_release, number_reserve

    number = world.theirs_reserved[0]
    number_release(numbers=[number], actor=ops_user, remark="back", now=now + world.day)
    number_reserve(numbers=[number], organization=world.customer, actor=ops_user,
                   remark="now Beta", now=now + 2 * world.day)
    response = client_for(world.user).get(number_url(number.e164))
    assert response.status_code == 200
    html = response.content.decode()
    for secret in ("Gamma Customer", "mallory", "SECRET-REMARK", "Other Partner"):
        assert secret not in html
    kinds = [e.kind for e in response.context["timeline"]]
    assert kinds == ["entered", "hidden"]
    assert [r.organization for r in response.context["reservations"]] == [world.customer]


def test_a_number_that_leaves_our_scope_is_404(world, client_for, ops_user):
    from inventory.services import number_release

    number = world.ours_second[0]
    client = client_for(world.user)
    assert client.get(number_url(number.e164)).status_code == 200
    number_release(numbers=[number], actor=ops_user, remark="done")
    assert client.get(number_url(number.e164)).status_code == 404



def test_the_state_filter_offers_only_states_a_partner_number_can_be_in(world, client_for):
    response = client_for(world.user).get("/partner/numbers/")
    offered = [value for value, _ in response.context["form"].fields["state"].choices]
    assert offered == ["available", "reserved", "assigned"]
    html = response.content.decode()
    assert 'value="reserved"' in html and 'value="locked"' not in html
    # A state no partner number can be in is a form error that names the field, not a 500.
    refused = client_for(world.user).get("/partner/numbers/", {"state": "locked"})
    assert refused.status_code == 200 and "state" in refused.context["form"].errors
    assert rows_of(refused) == []


def test_charged_to_names_the_did_reservation_subscription(world, client_for, ops_user,
                                                           make_subscription, now):
    from inventory.services import number_extend

    did = make_subscription(world.customer, kind="did_reservation", plan="DID Hold 12m")
    number = world.ours_reserved[0]
    assert number_extend(numbers=[number], did_reservation=did, actor=ops_user, now=now).done
    html = client_for(world.user).get(number_url(number.e164)).content.decode()
    section = html[html.index('aria-labelledby="res-title"'):html.index('aria-labelledby="timeline-title"')]
    assert "Charged to" in section
    assert "Beta Customer · DID Hold 12m" in section
    assert str(did.uuid) not in section

# --- export ---------------------------------------------------------------------------------

def test_csv_export_is_exactly_the_filtered_table(world, client_for):
    client = client_for(world.user)
    params = {"tags": "promo", "sort": "-number"}
    table = rows_of(client.get("/partner/numbers/", params))
    response = client.get("/partner/numbers/export/", {**params, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert csv_numbers(response) == table
    assert set(table) == e164s(world.ours_available + world.ours_reserved)


def test_export_without_filters_is_all_our_numbers(world, client_for):
    response = client_for(world.user).get("/partner/numbers/export/", {"format": "csv"})
    assert sorted(csv_numbers(response)) == sorted(e164s(world.ours))


def test_xlsx_export_keeps_plus_as_text_and_neutralises_formulas(world, client_for, ops_user,
                                                                 make_numbers):
    from openpyxl import load_workbook

    from inventory.services import number_reserve

    evil = make_numbers(1, start="+6560002000")
    number_reserve(numbers=evil, organization=world.customer, actor=ops_user, remark="x",
                   reserved_for="=HYPERLINK(\"http://evil\")")
    client = client_for(world.user)
    response = client.get("/partner/numbers/export/", {"format": "xlsx", "customer": world.customer.uuid})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    # Headers in words, the same in CSV and XLSX; the ops-only columns are not there.
    assert header[:5] == ("Number", "Country", "SKU", "State", "Features")
    assert "Ends" in header and "Held by" in header and "Reserved for" in header
    assert not {"vendor", "routing", "notes", "visible_to", "delete_reason", "Vendor", "Routing",
                "Notes"} & set(header)
    assert not any("_" in h for h in header)
    by_number = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    assert set(by_number) == e164s(world.ours_reserved + world.ours_assigned + evil)
    cell = next(c for c in next(sheet.iter_rows(min_row=2, max_row=2)) if c.column == 1)
    assert cell.data_type == "s" and cell.value.startswith("+")
    assert by_number[evil[0].e164]["Reserved for"] == "'=HYPERLINK(\"http://evil\")"
    csv_text = b"".join(client.get("/partner/numbers/export/", {
        "format": "csv", "number": evil[0].e164}).streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text and f"\n{evil[0].e164}," in csv_text.replace("\r\n", "\n")
    assert csv_text.splitlines()[0].split(",") == list(header)


def test_export_rejects_bad_format_and_bad_filters(world, client_for):
    client = client_for(world.user)
    assert client.get("/partner/numbers/export/", {"format": "pdf"}).status_code == 400
    bad = client.get("/partner/numbers/export/", {"format": "csv", "number": "x"})
    assert bad.status_code == 400 and b"number" in bad.content


# --- GET only -------------------------------------------------------------------------------

def test_no_view_accepts_a_write(world, client_for):
    client = client_for(world.user)
    urls = ["/partner/", "/partner/numbers/", number_url(world.ours_reserved[0].e164),
            "/partner/numbers/export/?format=csv"]
    for url in urls:
        for method in ("post", "put", "patch", "delete"):
            assert getattr(client, method)(url).status_code == 405, (method, url)
        assert client.head(url).status_code == 200


def test_urls_reverse(world):
    assert reverse("partner:summary") == "/partner/"
    assert number_url("+6560000100") == "/partner/numbers/%2B6560000100/"
