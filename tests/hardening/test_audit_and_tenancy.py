"""The audit trail survives deletions, and no form moves numbers across tenants: users with
recorded changes and organizations offered numbers are not deleted, no admin path deletes
number or history rows, a subscription holding numbers keeps its organization and kind, and
partner users are never staff."""

from __future__ import annotations

import io

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import ProtectedError
from django.test import Client

from inventory.models import PhoneNumber, Reservation
from inventory.services import number_assign, number_reserve
from subscriptions.models import PartnerMembership, Subscription
from subscriptions.services import subscription_update

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def su(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


# --- users -------------------------------------------------------------------------------


def test_a_user_who_made_changes_is_not_deleted_and_keeps_the_name_on_the_history(
    su, ops_user, make_numbers, customer, now
):
    numbers = make_numbers(2)
    number_reserve(numbers=numbers, organization=customer, actor=ops_user, remark="r", now=now)
    page = su.get(f"/admin/auth/user/{ops_user.pk}/delete/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "recorded change(s) in the history name this user" in text and "Deactivate" in text
    assert 'type="submit"' not in text.split('id="content"')[1]  # no "Yes, I'm sure" button
    su.post(f"/admin/auth/user/{ops_user.pk}/delete/", {"post": "yes"})
    su.post("/admin/auth/user/", {"action": "delete_selected", "post": "yes",
                                  "_selected_action": [ops_user.pk]})
    assert User.objects.filter(pk=ops_user.pk).exists()
    with pytest.raises(ProtectedError, match="Deactivate"), transaction.atomic():
        ops_user.delete()
    assert PhoneNumber.history.filter(history_user__username="ops").count() == 2


def test_a_user_without_recorded_changes_can_be_deleted(su):
    idle = User.objects.create_user("idle", password="x-long-password-9", is_staff=True)
    su.post(f"/admin/auth/user/{idle.pk}/delete/", {"post": "yes"})
    assert not User.objects.filter(pk=idle.pk).exists()


# --- organizations -----------------------------------------------------------------------


def test_an_organization_numbers_are_offered_to_is_not_deleted(su, partner, make_numbers):
    numbers = make_numbers(2, visible_to=partner)
    text = su.get(f"/admin/subscriptions/organization/{partner.pk}/delete/").content.decode()
    assert "offered to it" in text and "mass edit" in text
    su.post(f"/admin/subscriptions/organization/{partner.pk}/delete/", {"post": "yes"})
    with pytest.raises(ProtectedError), transaction.atomic():
        partner.delete()
    assert {n.visible_to_id for n in PhoneNumber.objects.filter(pk__in=[n.pk for n in numbers])} == {
        partner.pk}


# --- numbers and history rows --------------------------------------------------------------


def test_no_admin_path_deletes_number_or_history_rows(su, admin_user, make_numbers, vendor, service,
                                                      ops_user, now, rf):
    numbers = make_numbers(3)
    number_assign(numbers=numbers[:1], subscription=service, actor=ops_user, remark="go", now=now)
    history = PhoneNumber.history.count()
    request = rf.get("/admin/")
    request.user = admin_user
    for model, model_admin in admin.site._registry.items():
        if model is PhoneNumber or model is Reservation or model.__name__.startswith("Historical"):
            assert not model_admin.has_delete_permission(request), model
            assert "delete_selected" not in model_admin.get_actions(request), model
    n = numbers[0]
    assert su.post(f"/admin/inventory/phonenumber/{n.pk}/delete/", {"post": "yes"}).status_code == 403
    su.post("/admin/inventory/phonenumber/", {"action": "delete_selected", "post": "yes",
                                              "_selected_action": [x.pk for x in numbers]})
    # nor through what numbers hang on (PROTECT): the vendor, the subscription
    su.post(f"/admin/inventory/vendor/{vendor.pk}/delete/", {"post": "yes"})
    su.post(f"/admin/subscriptions/subscription/{service.pk}/delete/", {"post": "yes"})
    assert PhoneNumber.objects.count() == 3 and PhoneNumber.history.count() == history
    assert Subscription.objects.filter(pk=service.pk).exists()
    history_page = su.get(f"/admin/inventory/phonenumber/{n.pk}/history/")
    assert history_page.status_code == 200 and "/delete/" not in history_page.content.decode()


# --- subscriptions -----------------------------------------------------------------------


def subscription_form_data(sub: Subscription, **changes) -> dict:
    data = {"organization": sub.organization_id, "kind": sub.kind, "plan": sub.plan,
            "current_period_end_0": sub.current_period_end.strftime("%Y-%m-%d"),
            "current_period_end_1": sub.current_period_end.strftime("%H:%M:%S"),
            "number_allowance": sub.number_allowance or "", "subscriber": sub.subscriber}
    data.update(changes)
    return data


def test_a_subscription_holding_numbers_keeps_its_organization_and_kind(
    su, service, other_customer, make_numbers, ops_user, now
):
    number_assign(numbers=make_numbers(2), subscription=service, actor=ops_user, remark="go", now=now)
    url = f"/admin/subscriptions/subscription/{service.pk}/change/"
    organization_id = service.organization_id
    form = su.get(url).context["adminform"].form
    assert "organization" not in form.fields and "kind" not in form.fields  # shown read-only
    su.post(url, subscription_form_data(service, organization=other_customer.pk, kind="did_reservation",
                                        plan="Renamed"))
    service.refresh_from_db()
    assert (service.organization_id, service.kind, service.plan) == (organization_id, "service", "Renamed")
    # whatever adapter asks (admin, API), the service refuses and changes nothing
    with pytest.raises(ValidationError) as refused:
        subscription_update(subscription=service, changes={"organization": other_customer},
                            actor=ops_user)
    assert "organization cannot change" in str(refused.value)  # "… its organization cannot change …"
    service.refresh_from_db()
    assert service.organization_id == organization_id


def test_the_allowance_cannot_drop_below_the_numbers_held(su, service, make_numbers, ops_user, now):
    number_assign(numbers=make_numbers(3), subscription=service, actor=ops_user, remark="go", now=now)
    url = f"/admin/subscriptions/subscription/{service.pk}/change/"
    response = su.post(url, subscription_form_data(service, number_allowance=2), follow=True)
    assert "holds 3 numbers" in response.content.decode()  # "Nothing saved: …" at the top
    service.refresh_from_db()
    assert service.number_allowance is None
    su.post(url, subscription_form_data(service, number_allowance=3))
    service.refresh_from_db()
    assert service.number_allowance == 3


def test_a_subscription_without_numbers_may_move(su, service, other_customer):
    url = f"/admin/subscriptions/subscription/{service.pk}/change/"
    assert "organization" in su.get(url).context["adminform"].form.fields
    su.post(url, subscription_form_data(service, organization=other_customer.pk))
    service.refresh_from_db()
    assert service.organization_id == other_customer.pk


# --- partner users -----------------------------------------------------------------------


def test_add_partner_user_enforces_the_password_validators(partner):
    for weak, reason in [("short", "too short"), ("12345678901", "entirely numeric"),
                         ("password123", "too common"), ("newbie-partner", "too similar")]:
        with pytest.raises(CommandError, match=reason):
            call_command("add_partner_user", "newbie-partner", "--partner", str(partner.uuid),
                         "--password", weak, stdout=io.StringIO())
    assert not User.objects.filter(username="newbie-partner").exists()
    call_command("add_partner_user", "newbie-partner", "--partner", str(partner.uuid),
                 "--password", "a-decent-Passphrase-42", stdout=io.StringIO())
    assert User.objects.get(username="newbie-partner").check_password("a-decent-Passphrase-42")


def test_the_admin_enforces_the_password_validators(su):
    response = su.post("/admin/auth/user/add/", {"username": "weakling", "password1": "123",
                                                  "password2": "123", "usable_password": "true"})
    assert response.status_code == 200 and "too short" in response.content.decode()
    assert not User.objects.filter(username="weakling").exists()


def test_a_partner_user_cannot_be_made_staff_nor_staff_a_partner_user(partner, ops_user):
    from ops.admin import UserAdmin

    member = User.objects.create_user("member", password="m-long-password-1")
    PartnerMembership.objects.create(user=member, organization=partner)
    form_class = UserAdmin.form
    data = {"username": "member", "is_staff": "on", "is_active": "on",
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    form = form_class(instance=member, data=data)
    assert not form.is_valid()
    assert "partner users are never staff" in str(form.errors)
    # and the other way: a membership for a staff user
    with pytest.raises(ValidationError, match="never staff"):
        PartnerMembership(user=ops_user, organization=partner).full_clean()
    with pytest.raises(CommandError, match="never staff"):
        call_command("add_partner_user", ops_user.username, "--partner", str(partner.uuid),
                     stdout=io.StringIO())
    assert not PartnerMembership.objects.filter(user=ops_user).exists()


def test_the_partner_membership_admin_refuses_a_staff_user(su, partner, ops_user):
    response = su.post("/admin/subscriptions/partnermembership/add/",
                       {"user": ops_user.pk, "organization": partner.pk})
    assert response.status_code == 200 and "never staff" in response.content.decode()
    assert not PartnerMembership.objects.filter(user=ops_user).exists()
