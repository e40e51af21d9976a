"""The seeds' columns in an import: after_hold / hold_days, the state words, and the
reserved-for flag (kept or set, never dropped)."""

from __future__ import annotations

import pytest

from inventory.choices import NumberState
from inventory.imports import import_file
from inventory.models import PhoneNumber
from inventory.services import number_set_reserved_for
from tests.inventory.test_import_rules import HEAD, csv_file

pytestmark = pytest.mark.django_db

write = csv_file


def test_after_hold_and_hold_days_on_new_and_existing_numbers(tmp_path, sample_catalog, ops_user):
    # New numbers take the COPY path on PostgreSQL, inserts on SQLite: both keep the columns.
    path = write(tmp_path, f"{HEAD},after_hold,hold_days\n+6566500001,SG,M1 Trunks,SG-DID-STD,Available,10\n"
                           "+6566500002,SG,M1 Trunks,SG-DID-STD,archive,\n"
                           "+6566500003,SG,M1 Trunks,SG-DID-STD,,\n")
    assert import_file(path, actor=ops_user).imported
    assert dict(PhoneNumber.objects.values_list("e164", "after_hold_state")) == {
        "+6566500001": "available", "+6566500002": "deleted", "+6566500003": "reserved"}
    assert dict(PhoneNumber.objects.values_list("e164", "hold_days")) == {
        "+6566500001": 10, "+6566500002": None, "+6566500003": None}
    again = import_file(path, actor=ops_user)
    assert (again.changed, again.unchanged) == (0, 3)
    # Changed on an existing number, with a history row naming the file.
    fix = write(tmp_path, f"{HEAD},after_hold,hold_days\n+6566500001,SG,M1 Trunks,SG-DID-STD,reserved,\n",
                name="fix.csv")
    assert import_file(fix, actor=ops_user).changed == 1
    n = PhoneNumber.objects.get(e164="+6566500001")
    assert (n.after_hold_state, n.hold_days) == ("reserved", None)
    assert n.history.first().history_change_reason == "fix.csv"


@pytest.mark.parametrize(("column", "value"), [
    ("after_hold", "assigned"), ("after_hold", "soon"), ("hold_days", "-1"), ("hold_days", "4000"),
    ("hold_days", "ten"),
])
def test_bad_after_hold_or_hold_days_is_a_row_error(tmp_path, sample_catalog, ops_user, column, value):
    path = write(tmp_path, f"{HEAD},{column}\n+6566500001,SG,M1 Trunks,SG-DID-STD,{value}\n")
    summary = import_file(path, actor=ops_user)
    [error] = summary.errors
    assert (error.row, error.column) == (2, column) and not PhoneNumber.objects.exists()


@pytest.mark.parametrize(("word", "state"), [
    ("In stock", NumberState.AVAILABLE), ("IN STOCK", NumberState.AVAILABLE),
    ("Blocked", NumberState.LOCKED), ("available", NumberState.AVAILABLE),
])
def test_the_seeds_state_words(tmp_path, sample_catalog, ops_user, word, state):
    path = write(tmp_path, f"{HEAD},status\n+6566500001,SG,M1 Trunks,SG-DID-STD,{word}\n")
    assert import_file(path, actor=ops_user).imported
    assert PhoneNumber.objects.get().state == state


def test_active_and_used_mean_assigned(tmp_path, sample_catalog, ops_user, service):
    path = write(tmp_path, f"{HEAD},status,subscription\n"
                           f"+6566500001,SG,M1 Trunks,SG-DID-STD,Active,{service.uuid}\n"
                           f"+6566500002,SG,M1 Trunks,SG-DID-STD,used,{service.uuid}\n")
    assert import_file(path, actor=ops_user).imported
    assert set(PhoneNumber.objects.values_list("state", flat=True)) == {NumberState.ASSIGNED}


@pytest.mark.parametrize("word", ["Archive", "Hold", "nonsense"])
def test_states_an_import_cannot_set_are_refused_with_the_reason(tmp_path, sample_catalog, ops_user, word):
    path = write(tmp_path, f"{HEAD},state\n+6566500001,SG,M1 Trunks,SG-DID-STD,{word}\n")
    summary = import_file(path, actor=ops_user)
    [error] = summary.errors
    assert error.column == "state" and not PhoneNumber.objects.exists()
    assert ("cannot be set by an import" if word != "nonsense" else "unknown state") in error.reason


# --- reserved_for -----------------------------------------------------------------------


@pytest.fixture
def flagged(make_numbers, now):
    numbers = make_numbers(2, start="+6566500001")
    number_set_reserved_for(numbers=numbers, reserved_for="alice", actor=None, remark="VOSS user")
    return numbers


def test_a_file_without_reserved_for_or_with_an_empty_cell_keeps_the_flag(tmp_path, flagged, ops_user,
                                                                          customer):
    path = write(tmp_path, f"{HEAD},notes\n+6566500001,SG,Singtel Wholesale,SG-DID-STD,x\n")
    assert import_file(path, actor=ops_user).changed == 1
    empty = write(tmp_path, f"{HEAD},state,organization,reserved_for\n"
                            f"+6566500002,SG,Singtel Wholesale,SG-DID-STD,reserved,{customer.uuid},\n",
                  name="empty.csv")
    summary = import_file(empty, actor=ops_user)
    assert summary.imported and summary.changed == 1, summary.errors
    assert dict(PhoneNumber.objects.values_list("e164", "reserved_for")) == {
        "+6566500001": "alice", "+6566500002": "alice"}
    assert PhoneNumber.objects.get(e164="+6566500002").state == NumberState.RESERVED
    assert PhoneNumber.objects.get(e164="+6566500002").reservations.get().reserved_for == "alice"


def test_an_import_sets_the_flag_but_never_replaces_another(tmp_path, flagged, make_numbers, ops_user):
    make_numbers(1, start="+6566500003")
    path = write(tmp_path, f"{HEAD},reserved_for\n+6566500001,SG,Singtel Wholesale,SG-DID-STD,alice\n"
                           "+6566500002,SG,Singtel Wholesale,SG-DID-STD,bob\n"
                           "+6566500003,SG,Singtel Wholesale,SG-DID-STD,carol\n"
                           "+6566500004,SG,Singtel Wholesale,SG-DID-STD,dave\n")
    summary = import_file(path, actor=ops_user, all_or_nothing=False)
    [error] = summary.errors
    assert (error.row, error.column) == (3, "reserved_for") and "reserved for alice" in error.reason
    assert (summary.created, summary.changed, summary.unchanged) == (1, 1, 1)
    assert dict(PhoneNumber.objects.values_list("e164", "reserved_for")) == {
        "+6566500001": "alice", "+6566500002": "alice", "+6566500003": "carol", "+6566500004": "dave"}
    assert PhoneNumber.objects.get(e164="+6566500003").state == NumberState.AVAILABLE
    assert PhoneNumber.objects.get(e164="+6566500003").history.first().history_change_reason == "numbers.csv"
