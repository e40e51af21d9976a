"""What an import may change: re-imports, history, all-or-nothing, state and holder columns."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from inventory.imports import import_file
from inventory.models import PhoneNumber, Reservation
from tests.conftest import SAMPLES

pytestmark = pytest.mark.django_db

HEAD = "number,country,vendor,sku"


def csv_file(tmp_path, text: str, name: str = "numbers.csv"):
    path = tmp_path / name
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def test_history_names_the_importer_and_the_file(sample_catalog, ops_user):
    import_file(SAMPLES / "numbers-basic.csv", actor=ops_user)
    history = PhoneNumber.history.filter(e164="+6566000000")
    [created] = history
    assert created.history_type == "+" and created.history_user == ops_user
    assert created.history_change_reason == "numbers-basic.csv"


def test_reimport_changes_nothing(sample_catalog, ops_user):
    import_file(SAMPLES / "numbers-basic.csv", actor=ops_user)
    before = {n.e164: n.updated_at for n in PhoneNumber.objects.all()}
    history = PhoneNumber.history.count()
    summary = import_file(SAMPLES / "numbers-basic.csv", actor=ops_user)
    assert summary.imported
    assert (summary.created, summary.changed, summary.unchanged, summary.refused) == (0, 0, 200, 0)
    assert PhoneNumber.history.count() == history
    assert {n.e164: n.updated_at for n in PhoneNumber.objects.all()} == before


def test_changed_rows_are_written_with_one_history_row_each(tmp_path, sample_catalog, ops_user, admin_user):
    import_file(csv_file(tmp_path, f"{HEAD},notes,golden\n+6566200001,SG,M1 Trunks,SG-DID-STD,old,no\n"
                                   "+6566200002,SG,M1 Trunks,SG-DID-STD,same,no"), actor=ops_user)
    path = csv_file(tmp_path, f"{HEAD},notes,golden\n+6566200001,SG,StarHub Carrier,SG-DID-GOLD,new,yes\n"
                              "+6566200002,SG,M1 Trunks,SG-DID-STD,same,no", name="fix.csv")
    summary = import_file(path, actor=admin_user)
    assert (summary.created, summary.changed, summary.unchanged) == (0, 1, 1)
    n = PhoneNumber.objects.select_related("vendor", "sku").get(e164="+6566200001")
    assert (n.vendor.name, n.sku.code, n.notes, n.is_golden) == (
        "StarHub Carrier", "SG-DID-GOLD", "new", True)
    latest = n.history.first()
    assert latest.history_type == "~" and latest.history_user == admin_user
    assert latest.history_change_reason == "fix.csv"
    assert PhoneNumber.history.filter(e164="+6566200002").count() == 1


def test_columns_absent_from_the_file_are_left_alone(tmp_path, sample_catalog, ops_user):
    import_file(SAMPLES / "numbers-basic.csv", actor=ops_user)
    path = csv_file(tmp_path, f"{HEAD}\n+6566000000,SG,Singtel Wholesale,SG-DID-GOLD")
    summary = import_file(path, actor=ops_user)
    assert summary.unchanged == 1
    assert PhoneNumber.objects.get(e164="+6566000000").notes == "imported row 0"


def test_all_or_nothing_writes_nothing_even_when_the_bad_row_is_last(tmp_path, sample_catalog, ops_user):
    rows = "\n".join(f"+65663{i:05d},SG,M1 Trunks,SG-DID-STD" for i in range(30))
    path = csv_file(tmp_path, f"{HEAD}\n{rows}\n+65663000xx,SG,M1 Trunks,SG-DID-STD")
    from inventory import imports

    summary = import_file(path, actor=ops_user, chunk_rows=10)  # earlier chunks were written, then undone
    assert imports.CHUNK_ROWS > 10 and not summary.imported
    assert summary.created == 30 and summary.refused == 1
    assert PhoneNumber.objects.count() == 0 and PhoneNumber.history.count() == 0


def test_dry_run_writes_nothing(sample_catalog, ops_user):
    summary = import_file(SAMPLES / "numbers-basic.csv", actor=ops_user, dry_run=True)
    assert summary.created == 200 and not summary.imported
    assert PhoneNumber.objects.count() == 0


# --- state and holder columns go through the life-cycle rules ---------------------------


def test_reserved_row_gets_a_reservation_with_the_policy_period(tmp_path, sample_catalog, ops_user, customer):
    path = csv_file(tmp_path, f"{HEAD},state,organization,reserved_for\n"
                              f"+6566400001,SG,M1 Trunks,SG-DID-STD,reserved,{customer.uuid},alice")
    before = timezone.now()
    summary = import_file(path, actor=ops_user)
    assert summary.imported, summary.errors
    n = PhoneNumber.objects.get(e164="+6566400001")
    assert (n.state, n.organization, n.reserved_for) == ("reserved", customer, "alice")
    reservation = Reservation.objects.get(number=n, status="active")
    assert reservation.kind == "manual" and reservation.organization == customer
    assert reservation.created_by == ops_user and reservation.remark == "numbers.csv"
    assert reservation.notice_email == customer.billing_email
    days = (reservation.ends_at - before).total_seconds() / 86400
    assert 27.9 < days <= 28.01 and n.expires_at == reservation.ends_at  # the default 28-day policy


def test_reserved_row_by_organization_name_with_its_own_end(tmp_path, sample_catalog, ops_user, partner):
    path = csv_file(tmp_path, f"{HEAD},state,organization,expires_at\n"
                              f"+6566400002,SG,M1 Trunks,SG-DID-STD,reserved,{partner.name},2031-01-31")
    assert import_file(path, actor=ops_user).imported
    n = PhoneNumber.objects.get(e164="+6566400002")
    assert n.organization == partner and n.expires_at.date() == dt.date(2031, 1, 31)


def test_reserved_row_without_organization_is_refused(tmp_path, sample_catalog, ops_user):
    path = csv_file(tmp_path, f"{HEAD},state\n+6566400003,SG,M1 Trunks,SG-DID-STD,reserved")
    summary = import_file(path, actor=ops_user)
    [error] = summary.errors
    assert (error.row, error.column) == (2, "organization") and "needs the organization" in error.reason
    assert PhoneNumber.objects.count() == 0


def test_locked_without_end_is_a_legacy_permanent_lock(tmp_path, sample_catalog, ops_user):
    path = csv_file(tmp_path, f"{HEAD},state,expires_at\n+6566400004,SG,M1 Trunks,SG-DID-STD,locked,\n"
                              "+6566400005,SG,M1 Trunks,SG-DID-STD,locked,2031-06-30 12:00")
    assert import_file(path, actor=ops_user).imported
    permanent = PhoneNumber.objects.get(e164="+6566400004")
    assert permanent.state == "locked" and permanent.expires_at is None
    lock = Reservation.objects.get(number=permanent)
    assert lock.kind == "lock" and lock.ends_at is None and lock.status == "active"
    dated = PhoneNumber.objects.get(e164="+6566400005")
    assert dated.expires_at == Reservation.objects.get(number=dated).ends_at
    assert dated.expires_at.year == 2031


def test_permanent_lock_survives_the_expiry_sweep(tmp_path, sample_catalog, ops_user):
    from inventory.services import numbers_expire_due

    import_file(csv_file(tmp_path, f"{HEAD},state\n+6566400006,SG,M1 Trunks,SG-DID-STD,locked"),
                actor=ops_user)
    numbers_expire_due(now=timezone.now() + dt.timedelta(days=3650))
    assert PhoneNumber.objects.get(e164="+6566400006").state == "locked"


def test_assigned_row_needs_an_active_service_subscription(tmp_path, sample_catalog, ops_user, customer,
                                                           make_subscription):
    service = make_subscription(customer, allowance=1)
    ended = make_subscription(customer, status="expired")
    path = csv_file(tmp_path, f"{HEAD},state,subscription\n"
                              f"+6566400007,SG,M1 Trunks,SG-DID-STD,assigned,{service.uuid}\n"
                              f"+6566400008,SG,M1 Trunks,SG-DID-STD,assigned,{service.uuid}\n"
                              f"+6566400009,SG,M1 Trunks,SG-DID-STD,assigned,{ended.uuid}")
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    assert summary.created == 1
    n = PhoneNumber.objects.get(e164="+6566400007")
    assert (n.state, n.subscription, n.organization) == ("assigned", service, customer)
    reasons = {e.row: (e.column, e.reason) for e in summary.errors}
    assert reasons[3] == ("subscription", "allowance of 1 numbers reached")
    assert reasons[4][0] == "subscription" and "expired" in reasons[4][1]


def test_existing_available_number_is_reserved_through_the_rules(tmp_path, ops_user, make_numbers,
                                                                 customer):
    [n] = make_numbers(1, start="+6566500001")
    path = csv_file(tmp_path, f"{HEAD},state,organization\n"
                              f"+6566500001,SG,Singtel Wholesale,SG-DID-STD,reserved,{customer.uuid}")
    summary = import_file(path, actor=ops_user)
    assert summary.changed == 1, summary.errors
    n.refresh_from_db()
    assert n.state == "reserved" and n.organization == customer
    assert Reservation.objects.filter(number=n, status="active", kind="manual").count() == 1
    assert n.history.first().history_change_reason == "numbers.csv"
    again = import_file(path, actor=ops_user)
    assert again.unchanged == 1 and Reservation.objects.filter(number=n).count() == 1


def test_import_never_releases_or_steals(tmp_path, ops_user, make_numbers, customer, other_customer):
    from inventory.services import number_reserve

    [n] = make_numbers(1, start="+6566500002")
    number_reserve(numbers=[n], organization=customer, actor=ops_user, remark="hold")
    path = csv_file(tmp_path, f"{HEAD},state,organization,notes\n"
                              f"+6566500002,SG,Singtel Wholesale,SG-DID-STD,available,,freed\n")
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    [error] = summary.errors
    assert error.column == "state" and "does not release" in error.reason
    path = csv_file(tmp_path, f"{HEAD},state,organization,notes\n+6566500002,SG,Singtel Wholesale,"
                              f"SG-DID-STD,reserved,{other_customer.uuid},stolen\n", name="steal.csv")
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    [error] = summary.errors
    assert "already reserved by Beta Customer" in error.reason
    n.refresh_from_db()
    assert (n.state, n.organization, n.notes) == ("reserved", customer, "")  # a refused row changes nothing


def test_cooling_or_deleted_cannot_be_set(tmp_path, sample_catalog, ops_user):
    path = csv_file(tmp_path, f"{HEAD},state\n+6566400010,SG,M1 Trunks,SG-DID-STD,deleted")
    [error] = import_file(path, actor=ops_user).errors
    assert error.column == "state" and "cannot be set by an import" in error.reason


def test_visible_to_by_uuid_or_domain(tmp_path, sample_catalog, ops_user, partner, customer):
    path = csv_file(tmp_path, f"{HEAD},visible_to\n+6566400011,SG,M1 Trunks,SG-DID-STD,{partner.uuid}\n"
                              f"+6566400012,SG,M1 Trunks,SG-DID-STD,ACME.example\n"
                              f"+6566400013,SG,M1 Trunks,SG-DID-STD,{customer.uuid}")
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    assert summary.created == 2
    assert set(PhoneNumber.objects.values_list("visible_to", flat=True)) == {partner.pk}
    [error] = summary.errors
    assert error.row == 4 and error.column == "visible_to"  # a customer is not a partner


def test_export_then_reimport_is_a_no_op(tmp_path, sample_catalog, ops_user, customer, make_subscription):
    from inventory.exports import write_export

    import_file(SAMPLES / "numbers-basic.csv", actor=ops_user)
    service = make_subscription(customer)
    path = csv_file(tmp_path, f"{HEAD},state,organization,subscription,expires_at\n"
                              f"+6566400020,SG,M1 Trunks,SG-DID-STD,reserved,{customer.uuid},,\n"
                              f"+6566400021,SG,M1 Trunks,SG-DID-STD,assigned,,{service.uuid},\n"
                              f"+6566400022,SG,M1 Trunks,SG-DID-STD,locked,,,", name="states.csv")
    assert import_file(path, actor=ops_user).imported
    exported = tmp_path / "export.csv"
    write_export(PhoneNumber.objects.order_by("e164"), "csv", str(exported))
    history = PhoneNumber.history.count()
    summary = import_file(exported, actor=ops_user)
    assert summary.imported, summary.errors
    assert (summary.created, summary.changed, summary.unchanged) == (0, 0, 203)
    assert PhoneNumber.history.count() == history


def test_many_different_changes_are_all_written_with_history(tmp_path, sample_catalog, ops_user):
    """Values that differ per row (not a shared mass edit) still land, each with its history row."""
    rows = "\n".join(f"+65667{i:05d},SG,M1 Trunks,SG-DID-STD,note {i},trunk-{i % 3}" for i in range(60))
    import_file(csv_file(tmp_path, f"{HEAD},notes,routing\n{rows}"), actor=ops_user)
    rows = "\n".join(f"+65667{i:05d},SG,M1 Trunks,SG-DID-STD,new note {i},trunk-{i % 3}"
                     for i in range(60))
    summary = import_file(csv_file(tmp_path, f"{HEAD},notes,routing\n{rows}", name="notes.csv"),
                          actor=ops_user)
    assert (summary.changed, summary.unchanged) == (60, 0)
    stored = dict(PhoneNumber.objects.values_list("e164", "notes"))
    assert stored == {f"+65667{i:05d}": f"new note {i}" for i in range(60)}
    assert PhoneNumber.objects.filter(routing="trunk-2").count() == 20
    changed = PhoneNumber.history.filter(history_type="~", history_change_reason="notes.csv")
    assert changed.count() == 60 and {h.notes for h in changed} == {f"new note {i}" for i in range(60)}


def test_a_row_may_only_do_what_the_importer_may_do_by_hand(tmp_path, sample_catalog, customer):
    """Import permission alone does not grant reserve/lock/assign: those rows are refused."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    importer = get_user_model().objects.create_user("importer", is_staff=True)
    importer.user_permissions.add(Permission.objects.get(codename="import_phonenumber"))
    path = csv_file(tmp_path, f"{HEAD},state,organization\n"
                              f"+6566400101,SG,M1 Trunks,SG-DID-STD,reserved,{customer.uuid}\n"
                              f"+6566400102,SG,M1 Trunks,SG-DID-STD,locked,\n"
                              f"+6566400103,SG,M1 Trunks,SG-DID-STD,,")
    summary = import_file(path, actor=importer)
    assert not summary.imported
    reasons = {e.row: (e.column, e.reason) for e in summary.errors}
    assert reasons[2] == ("state", "you may not set numbers reserved (needs the permission "
                                   "inventory.reserve_number)")
    assert reasons[3][1].endswith("inventory.lock_number)")
    assert 4 not in reasons
    assert not PhoneNumber.objects.filter(e164__startswith="+65664001").exists()
