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


@pytest.mark.parametrize("forked", [False, True], ids=["thread", "process"])
def test_a_big_file_checked_in_a_second_process_gives_what_the_thread_gives(
        tmp_path, monkeypatch, sample_catalog, ops_user, partner, forked):
    """Files above PROCESS_MIN_BYTES are checked in a forked child; lookups it has not cached
    (organization by name, partner by domain) are answered by the importing process, and
    the error report has the refused rows' own cells either way."""
    import io

    from inventory import imports

    monkeypatch.setattr(imports, "PROCESS_MIN_BYTES", 0 if forked else 10**12)
    head = "number,country,vendor,sku,state,organization,visible_to,notes"
    rows = [f"+65667{i:05d},SG,M1 Trunks,SG-DID-STD,,,,note {i}" for i in range(1500)]
    rows[5] = f"+6566700005,SG,M1 Trunks,SG-DID-STD,reserved,{partner.name},,held"
    rows[6] = f"+6566700006,SG,M1 Trunks,SG-DID-STD,,,{partner.domain},seen"
    rows[7] = "+6566700007,SG,No Such Vendor,SG-DID-STD,,,,=bad"
    rows[8] = "+6566700008,SG,M1 Trunks,SG-DID-STD,reserved,,,no org"  # refused by the rules
    path = tmp_path / "big.csv"
    path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    report = io.StringIO()
    summary = import_file(path, actor=ops_user, all_or_nothing=False, error_stream=report)
    assert (summary.imported, summary.created, summary.refused) == (True, 1498, 2)
    assert sorted((e.row, e.column) for e in summary.errors) == [(9, "vendor"), (10, "organization")]
    lines = report.getvalue().splitlines()
    assert lines[1].startswith("+6566700007,SG,No Such Vendor,SG-DID-STD,,,,'=bad,9,")
    assert lines[2].startswith("+6566700008,SG,M1 Trunks,SG-DID-STD,reserved,,,no org,10,")
    held = PhoneNumber.objects.get(e164="+6566700005")
    assert (held.state, held.organization) == ("reserved", partner)
    assert PhoneNumber.objects.get(e164="+6566700006").visible_to == partner
    assert PhoneNumber.history.filter(history_change_reason="big.csv").count() == 1498
    assert sum(e.data["count"] for e in Event.objects.filter(remark="big.csv", type="number.added")) == 1498


@pytest.mark.parametrize("forked", [False, True], ids=["thread", "process"])
def test_a_file_error_found_while_reading_or_writing_imports_nothing_either_way(
        tmp_path, monkeypatch, settings, sample_catalog, ops_user, forked):
    """A CSV error the reader meets (a cell beyond the csv module's limit) and a row limit
    the writer meets both end the import with the same message in both modes."""
    from inventory import imports

    monkeypatch.setattr(imports, "PROCESS_MIN_BYTES", 0 if forked else 10**12)
    rows = [f"+65667{i:05d},SG,M1 Trunks,SG-DID-STD,note {i},," for i in range(3000)]
    broken = rows[:2500] + [f"+6566800000,SG,M1 Trunks,SG-DID-STD,{'x' * 200_000},,"] + rows[2500:]
    summary = import_file(csv_file(tmp_path, broken, "broken.csv"), actor=ops_user)
    assert "not a readable CSV file near line 2502" in summary.file_error and not summary.imported
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_ROWS": 2000}
    summary = import_file(csv_file(tmp_path, rows, "long.csv"), actor=ops_user)
    assert "more than 2,000 rows" in summary.file_error and not summary.imported
    assert PhoneNumber.objects.count() == 0
