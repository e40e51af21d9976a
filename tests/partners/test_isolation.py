"""Scope: another partner's numbers are a 404 on every URL, and no filter value widens the scope.

Every URL and every filter parameter (including those the partner form drops, such as the
ops-only `owner` and `visible_to`) is tried with the other partner's ids and values.
"""

from __future__ import annotations

import csv
import io

import pytest

from inventory.selectors import numbers_visible_to
from partners.views import number_url

pytestmark = pytest.mark.django_db


def their_values(world) -> dict[str, list[str]]:
    """For each query parameter, values that name the other partner's things."""
    theirs = world.theirs_reserved[0]
    return {
        "customer": [str(world.other_customer.uuid), str(world.other_partner.uuid),
                     str(world.other_customer.pk)],
        "subscription": [str(world.other_service.uuid)],
        "reserved_for": ["mallory"],
        "number": [theirs.e164, theirs.e164[1:], "+6560000[67]*", "+65600007*", "*0700", "0070"],
        "tags": ["promo"],
        "state": ["reserved", "assigned", "available", "locked"],
        "golden": ["true"],
        "capability": ["sms"],
        "country": ["SG"],
        "sku": ["SG-DID-STD"],
        # Not on the partner form: must be ignored, never applied as a widening filter.
        "owner": [str(world.other_customer.uuid)],
        "visible_to": [str(world.other_partner.uuid)],
        "vendor": ["Singtel Wholesale"],
        "organization": [str(world.other_customer.pk)],
        "partner": [str(world.other_partner.uuid)],
        "sort": ["-number", "customer"],
        "page": ["1", "2"],
    }


def cases(world):
    for param, values in their_values(world).items():
        for value in values:
            yield param, value


def leaked(content: str, world, sent: str = "") -> set[str]:
    """Their numbers, names and ids found in a response (minus what the user typed in)."""
    secrets = {n.e164 for n in world.theirs + world.unoffered + world.locked_offered}
    secrets |= {world.other_customer.name, world.other_partner.name, "mallory",
                str(world.other_service.uuid)}
    return {s for s in secrets if s in content and s not in sent}


def test_every_filter_with_their_values_shows_only_ours(world, client_for):
    client = client_for(world.user)
    ours = {n.e164 for n in world.ours}
    for param, value in cases(world):
        response = client.get("/partner/numbers/", {param: value})
        assert response.status_code == 200, (param, value)
        shown = {n.e164 for n in response.context["rows"]}
        assert shown <= ours, (param, value, shown - ours)
        assert not leaked(response.content.decode(), world, value), (param, value)


def test_their_customer_or_subscription_is_empty_or_an_error(world, client_for):
    client = client_for(world.user)
    response = client.get("/partner/numbers/", {"customer": str(world.other_customer.uuid)})
    assert "customer" in response.context["form"].errors
    assert list(response.context["rows"]) == []
    response = client.get("/partner/numbers/", {"subscription": str(world.other_service.uuid)})
    assert list(response.context["rows"]) == []
    response = client.get("/partner/numbers/", {"reserved_for": "mallory"})
    assert list(response.context["rows"]) == []


def test_every_filter_with_their_values_exports_only_ours(world, client_for):
    client = client_for(world.user)
    ours = {n.e164 for n in world.ours}
    for param, value in cases(world):
        for fmt in ("csv", "xlsx"):
            response = client.get("/partner/numbers/export/", {param: value, "format": fmt})
            if response.status_code == 400:  # an invalid filter (e.g. their customer): nothing
                continue
            assert response.status_code == 200, (param, value, fmt)
            body = b"".join(response.streaming_content)
            if fmt == "csv":
                text = body.decode("utf-8-sig")
                numbers = {r["Number"] for r in csv.DictReader(io.StringIO(text))}
                assert not leaked(text, world, value), (param, value)
            else:
                from openpyxl import load_workbook

                rows = list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))[1:]
                numbers = {r[0] for r in rows}
                assert not leaked(" ".join(str(c) for r in rows for c in r), world, value), \
                    (param, value)
            assert numbers <= ours, (param, value, fmt, numbers - ours)


@pytest.mark.parametrize("form", ["encoded", "raw", "digits"])
def test_their_numbers_are_404_in_every_url_form(world, client_for, form):
    client = client_for(world.user)
    missing = client.get("/partner/numbers/%2B6560099999/")
    assert missing.status_code == 404
    for number in world.theirs + world.unoffered + world.locked_offered:
        path = {"encoded": number_url(number.e164), "raw": f"/partner/numbers/{number.e164}/",
                "digits": f"/partner/numbers/{number.e164[1:]}/"}[form]
        response = client.get(path)
        assert response.status_code == 404, path
        # Indistinguishable from a number that does not exist.
        assert response.content == missing.content


def test_the_other_partner_sees_its_numbers_and_not_ours(world, client_for):
    client = client_for(world.other_user)
    theirs = {n.e164 for n in world.theirs}
    response = client.get("/partner/numbers/")
    assert {n.e164 for n in response.context["rows"]} == theirs
    for number in world.ours:
        assert client.get(number_url(number.e164)).status_code == 404
    html = client.get("/partner/").content.decode()
    assert "Beta Customer" not in html and "Acme Partner" not in html


def test_summary_and_pages_leak_nothing(world, client_for):
    client = client_for(world.user)
    for url in ("/partner/", "/partner/numbers/", number_url(world.ours_reserved[0].e164),
                "/partner/numbers/?state=locked", "/partner/numbers/?state=deleted"):
        response = client.get(url)
        assert response.status_code == 200
        assert not leaked(response.content.decode(), world), url


def test_scope_selector(world):
    visible = set(numbers_visible_to(world.user).values_list("e164", flat=True))
    assert visible == {n.e164 for n in world.ours}
    # A locked number offered to us is not in scope (DESIGN §6: only *available* offered numbers).
    assert world.locked_offered[0].e164 not in visible
    assert not numbers_visible_to(world.other_user).filter(e164__in=visible).exists()


def test_partner_user_cannot_reach_the_admin(world, client):
    """Django refuses non-staff users in the admin: the login there fails too."""
    client.force_login(world.user)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get("/admin/inventory/phonenumber/").status_code == 302
    client.logout()
    from tests.partners.conftest import PASSWORD

    response = client.post("/admin/login/?next=/admin/",
                           {"username": world.user.username, "password": PASSWORD})
    assert response.status_code == 200  # the form again, with an error
    assert "staff account" in response.content.decode()
    assert not world.user.is_staff


def test_no_partner_number_is_ever_locked_cooling_or_deleted(world, ops_user, now):
    """PARTNER_STATES (what the dashboard counts and filters by) holds every state the
    services can leave a number of ours in: lock, cooling and delete all drop it from scope."""
    from inventory.choices import DeleteReason, PolicyCause
    from inventory.models import LifecyclePolicy, PhoneNumber
    from inventory.services import number_delete, number_lock, number_release
    from partners.selectors import PARTNER_STATES

    offered_a, offered_b = world.ours_available
    assert number_lock(numbers=[offered_a], actor=ops_user, remark="lock", now=now).done
    assert number_delete(numbers=[offered_b], reason=DeleteReason.FAULTY, actor=ops_user,
                         remark="faulty", now=now).done
    LifecyclePolicy.objects.update_or_create(cause=PolicyCause.COOLING, country="", sku=None,
                                             is_ported_in=None, defaults={"period_days": 3})
    assert number_release(numbers=world.ours_own, actor=ops_user, remark="cool", now=now).done
    moved = {offered_a.pk: "locked", offered_b.pk: "deleted", world.ours_own[0].pk: "cooling"}
    assert dict(PhoneNumber.objects.filter(pk__in=moved).values_list("pk", "state")) == moved
    states = set(numbers_visible_to(world.user).values_list("state", flat=True))
    assert states and states <= set(PARTNER_STATES)
    assert not numbers_visible_to(world.user).filter(pk__in=moved).exists()


def test_the_timeline_takes_its_scope_from_numbers_visible_to(world, client_for, ops_user, now,
                                                            monkeypatch):
    """The timeline has no scope of its own: widen numbers_visible_to and the other holder's
    period shows up; as shipped it is one "not visible" entry."""
    import partners.selectors
    from inventory.models import PhoneNumber
    from inventory.services import number_release, number_reserve

    number = world.theirs_reserved[0]
    number_release(numbers=[number], actor=ops_user, remark="back", now=now + world.day)
    number_reserve(numbers=[number], organization=world.customer, actor=ops_user,
                   remark="now Beta", now=now + 2 * world.day)
    client = client_for(world.user)
    assert "hidden" in [e.kind for e in client.get(number_url(number.e164)).context["timeline"]]

    def everything(user, *, rows=None):  # a scope widened to every number and history row
        return PhoneNumber.objects.all() if rows is None else rows

    monkeypatch.setattr(partners.selectors, "numbers_visible_to", everything)
    timeline = client.get(number_url(number.e164)).context["timeline"]
    assert "hidden" not in [e.kind for e in timeline]
    assert any(new == "another organization" for e in timeline for _, _, new in e.changes)
