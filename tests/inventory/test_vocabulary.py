"""The seeds' vocabularies (DESIGN §3): JeraSoft's and VOSS's state words wherever a state is
typed, and JeraSoft's abbreviated range end."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from inventory.choices import DeleteReason, NumberState, state_from_word
from inventory.filters import filter_numbers
from inventory.models import PhoneNumber
from inventory.numbers import parse_spec
from inventory.services import number_delete, number_lock

S = NumberState


@pytest.mark.parametrize(("word", "meaning"), [
    ("In stock", (S.AVAILABLE, None)),
    ("  in   STOCK ", (S.AVAILABLE, None)),
    ("Active", (S.ASSIGNED, None)),
    ("used", (S.ASSIGNED, None)),
    ("BLOCKED", (S.LOCKED, None)),
    ("Hold", (S.HOLD, None)),
    ("Archive", (S.DELETED, DeleteReason.ARCHIVED)),
    ("reserved", (S.RESERVED, None)),
    ("Deleted", (S.DELETED, None)),
    ("cooling", (S.COOLING, None)),
])
def test_state_from_word(word, meaning):
    assert state_from_word(word) == meaning


def test_an_unknown_word_names_the_accepted_ones():
    with pytest.raises(ValueError, match="unknown state 'sold'; one of: available, .*In stock"):
        state_from_word("sold")


def test_the_state_filter_takes_the_words(make_numbers, ops_user, now):
    free, locked, archived, faulty = make_numbers(4)
    number_lock(numbers=[locked], actor=ops_user, remark="l", now=now)
    number_delete(numbers=[archived], reason=DeleteReason.ARCHIVED, actor=ops_user, remark="d",
                  now=now)
    number_delete(numbers=[faulty], reason=DeleteReason.FAULTY, actor=ops_user, remark="d", now=now)

    def found(*words):
        qs, _ = filter_numbers(PhoneNumber.objects.all(), {"state": list(words)} if words else {})
        return {n.pk for n in qs}

    assert found("In stock") == {free.pk}
    assert found("blocked", "in stock") == {free.pk, locked.pk}
    assert found("Archive") == {archived.pk}
    assert found("deleted") == {archived.pk, faulty.pk}
    assert found() == {free.pk, locked.pk, archived.pk, faulty.pk}
    with pytest.raises(ValidationError, match="state"):
        found("sold")


def test_an_abbreviated_range_end_expands():
    parsed = parse_spec("+6568791111-222")
    assert (parsed.errors, parsed.numbers[0], parsed.numbers[-1], len(parsed.numbers)) == (
        {}, "+6568791111", "+6568791222", 112)
    assert parse_spec("+6568791111-+6568791222").numbers == parsed.numbers
    assert parse_spec("6568791111-3").numbers == ["+6568791111", "+6568791112", "+6568791113"]


def test_full_national_range_ends_still_work():
    assert parse_spec("+6567000000-67000002", country="SG").numbers == [
        "+6567000000", "+6567000001", "+6567000002"]
    assert parse_spec("+442079460000-02079460001", country="GB").numbers == [
        "+442079460000", "+442079460001"]
    assert "runs backwards" in parse_spec("+6568791111-100").errors["+6568791111-100"]
