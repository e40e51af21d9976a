"""The import at scale: a re-import touches exactly the changed rows; duplicates are found
wherever they are in a long file (the set-wise diff and the compact seen-numbers table)."""

from __future__ import annotations

import pytest

from events.models import Event
from inventory.imports import import_file
from inventory.models import PhoneNumber

pytestmark = pytest.mark.django_db

HEAD = "number,country,vendor,sku,notes,golden,capabilities"


def csv_file(tmp_path, rows: list[str], name: str):
    path = tmp_path / name
    path.write_text("\n".join([HEAD, *rows]) + "\n", encoding="utf-8")
    return path


def _rows(count: int, *, changed: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    return [f"+65667{i:05d},SG,M1 Trunks,SG-DID-STD,note {i}{' (new)' if i in changed else ''},"
            f"{'yes' if i % 7 == 0 else ''},{'voice;sms' if i % 2 else ''}" for i in range(count)]


def test_a_reimport_writes_history_and_events_for_exactly_the_changed_rows(tmp_path, sample_catalog,
                                                                           ops_user):
    first = import_file(csv_file(tmp_path, _rows(700), "first.csv"), actor=ops_user)
    assert (first.imported, first.created) == (True, 700)
    assert PhoneNumber.history.filter(history_change_reason="first.csv").count() == 700
    changed = {3, 250, 699}
    again = import_file(csv_file(tmp_path, _rows(700, changed=changed), "again.csv"), actor=ops_user)
    assert (again.created, again.changed, again.unchanged, again.refused) == (0, 3, 697, 0)
    history = PhoneNumber.history.filter(history_change_reason="again.csv")
    assert sorted(history.values_list("e164", flat=True)) == [f"+65667{i:05d}" for i in sorted(changed)]
    events = Event.objects.filter(remark="again.csv")
    assert sum(e.data["count"] for e in events) == 3
    # An empty cell leaves the number's value alone: nothing to write a third time.
    same = import_file(csv_file(tmp_path, _rows(700, changed=changed), "same.csv"), actor=ops_user)
    assert (same.changed, same.unchanged) == (0, 700)
    assert not PhoneNumber.history.filter(history_change_reason="same.csv").exists()


def test_duplicates_are_found_inside_and_outside_long_runs(tmp_path, sample_catalog, ops_user):
    rows = _rows(300)
    rows.insert(200, rows[10])  # row 12 again, on row 202, while a run is open
    rows.append(rows[150])  # row 152 again, after the run was closed
    rows.append("+6566800000,SG,M1 Trunks,SG-DID-STD,x,,")
    rows.append("+6566800000,SG,M1 Trunks,SG-DID-STD,x,,")  # outside any run
    summary = import_file(csv_file(tmp_path, rows, "dups.csv"), actor=ops_user, dry_run=True)
    assert sorted(str(e) for e in summary.errors) == sorted([
        "row 202, number: duplicate of row 12 ('+6566700010')",
        "row 303, number: duplicate of row 152 ('+6566700150')",
        "row 305, number: duplicate of row 304 ('+6566800000')",
    ])


@pytest.mark.parametrize("known", [3, 697], ids=["mostly-new", "mostly-known"])
def test_a_file_mixing_new_and_known_numbers_writes_exactly_the_new_and_changed(tmp_path, sample_catalog,
                                                                                ops_user, known):
    """Whether a chunk is probed first (mostly new rows) or diffed whole (mostly known
    ones), each row comes out new, changed or unchanged as it is."""
    import_file(csv_file(tmp_path, _rows(known), "known.csv"), actor=ops_user)
    changed = {0, known - 1}
    summary = import_file(csv_file(tmp_path, _rows(700, changed=changed), "mixed.csv"), actor=ops_user)
    assert (summary.created, summary.changed, summary.unchanged, summary.refused) == (
        700 - known, 2, known - 2, 0)
    history = PhoneNumber.history.filter(history_change_reason="mixed.csv")
    assert history.filter(history_type="+").count() == 700 - known
    assert sorted(history.filter(history_type="~").values_list("e164", flat=True)) == [
        f"+65667{i:05d}" for i in sorted(changed)]
    assert sum(e.data["count"] for e in Event.objects.filter(remark="mixed.csv")) == 702 - known
    assert PhoneNumber.objects.get(e164=f"+65667{known - 1:05d}").notes == f"note {known - 1} (new)"


@pytest.mark.postgres
def test_each_chunk_gets_its_history_while_the_next_is_read(tmp_path, sample_catalog, ops_user):
    """A chunk's history rows are left running in PostgreSQL while the next chunk is read
    and checked (inventory.bulk.Later); every new row still has exactly one."""
    summary = import_file(csv_file(tmp_path, _rows(700), "chunks.csv"), actor=ops_user, chunk_rows=64)
    assert (summary.imported, summary.created) == (True, 700)
    history = PhoneNumber.history.filter(history_change_reason="chunks.csv")
    assert sorted(history.values_list("e164", flat=True)) == [f"+65667{i:05d}" for i in range(700)]
    assert set(history.values_list("history_type", "history_user_id")) == {("+", ops_user.pk)}


@pytest.mark.postgres
def test_a_refusal_in_the_last_chunk_leaves_no_number_and_no_history(tmp_path, sample_catalog,
                                                                      ops_user):
    rows = _rows(700)
    rows[650] = rows[650].replace(",SG,", ",XX,")
    summary = import_file(csv_file(tmp_path, rows, "late.csv"), actor=ops_user, chunk_rows=64)
    assert (summary.imported, summary.refused) == (False, 1)
    assert not PhoneNumber.objects.filter(e164__startswith="+65667").exists()
    assert not PhoneNumber.history.filter(history_change_reason="late.csv").exists()
