"""inventory.bulk's COPY text: the rows PostgreSQL receives are the values the caller gave,
whatever characters they hold, exactly as psycopg's own formatter would have sent them."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from psycopg._copy_base import TextFormatter
from psycopg.adapt import Transformer

from inventory.bulk import COPY_BLOCK_ROWS, COPY_THRESHOLD, CopyText, _array_element, insert_objects, pg_array
from inventory.choices import NumberState
from inventory.models import PhoneNumber

AWARE = dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC)
ODD_ROWS = [
    ("a\tb", "c\\d", "e\nf", "g\rh", None, True, False, 0, -5, 10**20, decimal.Decimal("1.50"),
     uuid.UUID(int=5), dt.date(2026, 1, 2), AWARE, 1.5, "\\N", "", NumberState.RESERVED,
     dt.timedelta(days=3), "ünïcødé ☎", b"\x00\\x"),
    ("plain", "also plain", "+6560000000"),
    (None, None, None),
    ("ends with a backslash\\", "x", "y"),
    ("tab at the end\t", None, "z"),
    (decimal.Decimal("1.5"), decimal.Decimal("1.50"), AWARE,
     AWARE.astimezone(dt.timezone(dt.timedelta(hours=2)))),  # equal values, other spellings
]


def psycopg_text(rows, constant=()):
    formatter = TextFormatter(Transformer())
    out = b"".join(bytes(formatter.write_row((*row, *constant))) for row in rows)
    return out + bytes(formatter.end())


@pytest.mark.parametrize("row", ODD_ROWS, ids=range(len(ODD_ROWS)))
def test_each_row_is_spelled_as_psycopg_would(row):
    assert "".join(CopyText().blocks([row])).encode() == psycopg_text([row])


def test_blocks_with_a_constant_tail_and_an_odd_row_among_plain_ones():
    rows = [(f"+65600{i:05d}", "SG", i, i % 2 == 0, None, f"note {i}")
            for i in range(2 * COPY_BLOCK_ROWS + 7)]
    rows[COPY_BLOCK_ROWS + 3] = ("+6569999999", "SG", 1, True, None, 'quote " tab \t newline \n')
    constant = (NumberState.AVAILABLE, AWARE, None, "", "c:\\path")

    blocks = list(CopyText().blocks(rows, constant=constant))

    assert len(blocks) == 3
    assert "".join(blocks).encode() == psycopg_text(rows, constant)


@pytest.mark.postgres
@pytest.mark.django_db
def test_copied_numbers_keep_every_character_of_their_notes(vendor, sku, now):
    notes = ["tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N", "", "ünïcødé ☎",
             'a "quote"', "trailing\\"]
    count = max(COPY_THRESHOLD, 2 * len(notes))  # the COPY path, not bulk_create
    numbers = [PhoneNumber(e164=f"+656{i:07d}", country="SG", vendor=vendor, sku=sku,
                           state=NumberState.AVAILABLE, notes=notes[i % len(notes)],
                           visible_to=None, state_changed_at=now) for i in range(count)]

    insert_objects(numbers)

    stored = dict(PhoneNumber.objects.filter(pk__in=[n.pk for n in numbers]).values_list("e164", "notes"))
    assert stored == {n.e164: n.notes for n in numbers}
    assert PhoneNumber.objects.filter(pk=numbers[0].pk, created_at__isnull=False).exists()


@pytest.mark.parametrize("values", [
    ["+6560000000", 'a "quote"', "back\\slash", "", "comma, {brace}"],
    ["with \x01 inside", "x"],
    ["text", None, 3, True],
], ids=["strings", "separator-like", "mixed"])
def test_an_array_literal_spells_each_value_as_its_element(values):
    assert pg_array(values) == "{" + ",".join(_array_element(v) for v in values) + "}"
    assert pg_array(iter(values)) == pg_array(values)


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_array_of_odd_strings_reaches_postgresql_intact():
    from django.db import connection

    values = ['a "quote"', "back\\slash", "", "comma, {brace}", "ünïcødé", "NULL"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT unnest(%s::text[])", [pg_array(values)])
        assert [v for (v,) in cursor.fetchall()] == values


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_statements_left_running_are_done_before_the_next_read_and_their_failure_is_raised():
    from django.db import DatabaseError, connection, transaction

    from inventory.bulk import Later, Statement
    from inventory.models import Vendor

    insert = "INSERT INTO inventory_vendor (name, notes) VALUES (%s, '')"
    with transaction.atomic(), Later() as later:
        later.send([Statement(insert, ["Later One"]), Statement(insert, ["Later Two"])])
        with connection.cursor() as cursor:  # a read in between waits for what was sent
            cursor.execute("SELECT count(*) FROM inventory_vendor WHERE name LIKE %s", ["Later %"])
            assert cursor.fetchone()[0] == 2
    assert set(Vendor.objects.filter(name__startswith="Later ").values_list("name", flat=True)) == {
        "Later One", "Later Two"}

    with pytest.raises(DatabaseError), transaction.atomic(), Later() as later:
        later.send([Statement(insert, ["Later Three"]), Statement("SELECT 1/0")])
    assert not Vendor.objects.filter(name="Later Three").exists()
    with connection.cursor() as cursor:  # the connection works again, outside any pipeline
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
