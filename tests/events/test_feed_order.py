"""The feed's order on PostgreSQL (issue #11): every event carries the id of the transaction that
wrote it, whatever wrote it (events_emit's one-statement insert, the ORM, plain SQL), it does
not move when the row is updated, and a partner's scope rows carry their event's. The feed is
that order; tests/api/test_events_commit_order.py races real transactions through it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from events.models import Event, EventOrganization
from events.selectors import events_for_ops, events_for_partner
from events.services import NumberChange, NumberSnapshot, events_emit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def this_transaction() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return cursor.fetchone()[0]


def test_every_insert_path_stamps_the_writing_transaction_and_the_feed_shows_the_event(customer):
    emitted = events_emit(type="number.reserved", actor=None, numbers_before_after=[NumberChange(
        "+6560000000", NumberSnapshot("available"), NumberSnapshot("reserved", organization_id=customer.pk))])
    by_orm = Event.objects.create(type="number.updated", occurred_at=timezone.now(), actor_name="x",
                                  txid=12345)  # a value given is not taken: the database's wins
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO events_event (type, occurred_at, actor_name, remark, data) "
                       "VALUES ('number.locked', now(), 'psql', '', '{}') RETURNING id")
        by_sql = cursor.fetchone()[0]

    txid = this_transaction()
    assert emitted[0].txid == txid  # returned by the insert
    rows = dict(Event.objects.filter(pk__in=[emitted[0].pk, by_orm.pk, by_sql]).values_list("pk", "txid"))
    assert set(rows.values()) == {txid}
    assert set(EventOrganization.objects.filter(event=emitted[0]).values_list("txid", flat=True)) == {txid}
    assert [e.pk for e in events_for_ops()] == [emitted[0].pk, by_orm.pk, by_sql]
    assert [e.pk for e in events_for_partner(customer.parent)] == [emitted[0].pk]


def test_an_update_does_not_move_an_event_in_the_feed(customer):
    (event,) = events_emit(type="number.reserved", actor=None, numbers_before_after=[NumberChange(
        "+6560000000", NumberSnapshot("available"), NumberSnapshot("reserved", organization_id=customer.pk))])
    txid = event.txid
    Event.objects.filter(pk=event.pk).update(txid=None, remark="edited")
    EventOrganization.objects.filter(event=event).update(txid=1)
    event.refresh_from_db()
    assert event.txid == txid and event.remark == "edited"
    assert set(EventOrganization.objects.filter(event=event).values_list("txid", flat=True)) == {txid}
    assert list(events_for_ops()) == [event]
