"""Every service writes its own domain events, in its own transaction: one event per call
(and ≤ 1,000 numbers) for each change, none for a no-op or a refused move, through the real
services with an explicit `now`."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from standardwebhooks import Webhook

from events.models import Event
from events.services import webhook_deliveries_send
from inventory.choices import ALLOWED_TRANSITIONS, ImportJobStatus
from inventory.imports import import_file, run_job
from inventory.models import PhoneNumber
from inventory.services import (
    import_job_confirm,
    import_job_start,
    number_add,
    number_assign,
    number_delete,
    number_extend,
    number_lock,
    number_recover,
    number_release,
    number_reserve,
    number_set_reserved_for,
    number_unlock,
    number_update_attributes,
    numbers_expire_due,
)
from inventory.services.publish import ACTION_EVENTS
from notifications.services import notices_queue_due
from subscriptions.services import subscription_renew, subscription_set_status
from tests.conftest import SAMPLES

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
HEAD = "number,country,vendor,sku"


def last_id() -> int:
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def since(mark: int) -> list[Event]:
    return list(Event.objects.filter(pk__gt=mark).order_by("pk"))


def told(mark: int) -> list[tuple[str, list[str]]]:
    """(type, the numbers' e164) of each event written since `mark`."""
    return [(e.type, [n["e164"] for n in e.data.get("numbers", [])]) for e in since(mark)]


def states(event: Event) -> list[tuple[str | None, str | None]]:
    return [((n["before"] or {}).get("state"), (n["after"] or {}).get("state"))
            for n in event.data["numbers"]]


def test_every_move_of_the_transition_table_has_its_event_type():
    assert set(ALLOWED_TRANSITIONS) | {"update"} == set(ACTION_EVENTS)


def test_reserving_twice_writes_one_event_and_a_refused_move_none(make_numbers, customer, ops_user, now):
    (n,) = make_numbers(1)
    mark = last_id()
    number_reserve(numbers=[n], organization=customer, actor=ops_user, remark="for Beta", now=now)
    number_reserve(numbers=[n], organization=customer, actor=ops_user, remark="again", now=now)
    assert told(mark) == [("number.reserved", [n.e164])]
    (event,) = since(mark)
    assert (event.actor_name, event.remark, event.occurred_at) == ("ops", "for Beta", now)
    item = event.data["numbers"][0]
    assert item["before"]["state"] == "available" and item["after"]["state"] == "reserved"
    assert item["after"]["organization"] == str(customer.uuid)
    assert item["after"]["expires_at"] == PhoneNumber.objects.get(pk=n.pk).expires_at.isoformat()

    mark = last_id()
    result = number_lock(numbers=[n], actor=ops_user, remark="no", now=now)  # reserved: refused
    assert result.rejected and since(mark) == []


def test_each_action_of_the_life_cycle_writes_its_own_event_once(make_numbers, customer, service,
                                                                  make_subscription, ops_user, now):
    (n,) = make_numbers(1)
    did = make_subscription(customer, kind="did_reservation", period_end=now + 90 * DAY)
    steps = [
        ("number.locked", lambda: number_lock(numbers=[n], actor=ops_user, remark="r", now=now)),
        ("number.unlocked", lambda: number_unlock(numbers=[n], actor=ops_user, remark="r", now=now)),
        ("number.deleted", lambda: number_delete(numbers=[n], reason="faulty", actor=ops_user,
                                                 remark="r", now=now)),
        ("number.recovered", lambda: number_recover(numbers=[n], actor=ops_user, remark="r", now=now)),
        ("number.reserved_for_changed", lambda: number_set_reserved_for(
            numbers=[n], reserved_for="alice", actor=ops_user, remark="r", now=now)),
        ("number.updated", lambda: number_update_attributes(
            numbers=[n], changes={"notes": "hello"}, actor=ops_user, remark="r", now=now)),
        ("number.reserved", lambda: number_reserve(numbers=[n], organization=customer,
                                                   actor=ops_user, remark="r", now=now)),
        ("number.extended", lambda: number_extend(numbers=[n], did_reservation=did, actor=ops_user,
                                                  now=now)),
        ("number.released", lambda: number_release(numbers=[n], actor=ops_user, remark="r", now=now)),
    ]
    for expected, call in steps:
        mark = last_id()
        result = call()
        assert result.done, (expected, result.rejected)
        assert told(mark) == [(expected, [n.e164])], expected
        mark = last_id()
        call()  # the same call again: already so (a double click), or refused
        assert since(mark) == [], expected

    service.subscriber = "alice"
    service.save()
    mark = last_id()
    number_assign(numbers=[n], subscription=service, actor=ops_user, remark="r", now=now)
    assert told(mark) == [("number.assigned", [n.e164])]


def test_a_2500_number_reserve_is_told_in_three_events_of_at_most_1000(make_numbers, customer, ops_user,
                                                                     now):
    numbers = make_numbers(2500)
    mark = last_id()
    number_reserve(numbers=numbers, organization=customer, actor=ops_user, remark="bulk", now=now)
    assert [(e.type, e.data["count"]) for e in since(mark)] == [
        ("number.reserved", 1000), ("number.reserved", 1000), ("number.reserved", 500)]
    assert sorted(e164 for _, e164s in told(mark) for e164 in e164s) == sorted(n.e164 for n in numbers)


def test_number_add_tells_each_new_number_without_a_before(vendor, sku, now):
    mark = last_id()
    result = number_add(numbers="+6561000000-+6561000009", vendor=vendor, sku=sku, actor=None, now=now)
    assert len(result.done) == 10
    (event,) = since(mark)
    assert event.type == "number.added" and event.data["count"] == 10
    assert {(n["before"], n["after"]["state"]) for n in event.data["numbers"]} == {(None, "available")}
    mark = last_id()
    number_add(numbers="+6561000000", vendor=vendor, sku=sku, actor=None, now=now)  # exists: refused
    assert since(mark) == []


def test_the_sweep_tells_expired_reservations_locks_and_holds(make_numbers, customer, service, ops_user,
                                                              now):
    reserved, locked, held = make_numbers(3)
    number_reserve(numbers=[reserved], organization=customer, actor=ops_user, remark="r", now=now)
    number_lock(numbers=[locked], actor=ops_user, remark="r", now=now)
    service.subscriber = ""
    service.save()
    number_assign(numbers=[held], subscription=service, actor=ops_user, remark="r", now=now)
    mark = last_id()
    subscription_set_status(subscription=service, status="suspended", actor=ops_user, now=now)
    assert [t for t, _ in told(mark)] == ["number.held", "subscription.status_changed"]
    status_event = since(mark)[1]
    assert status_event.data["subscription"]["status"] == "suspended"
    assert status_event.data["subscription"]["before"]["status"] == "active"

    mark = last_id()
    later = now + 400 * DAY
    assert numbers_expire_due(now=later) == 3
    events = since(mark)
    assert {e.type for e in events} == {"number.expired"}
    by_number = {n["e164"]: (e, n) for e in events for n in e.data["numbers"]}
    assert set(by_number) == {reserved.e164, locked.e164, held.e164}
    assert by_number[held.e164][0].data["cause"] == "hold_end"
    assert by_number[held.e164][1]["before"]["state"] == "hold"
    assert by_number[locked.e164][1]["before"]["state"] == "locked"
    assert by_number[locked.e164][1]["after"] == {**by_number[locked.e164][1]["before"],
                                                  "state": "available", "expires_at": None}
    assert by_number[reserved.e164][0].remark == "reservation expired"
    assert by_number[reserved.e164][1]["before"]["organization"] == str(customer.uuid)
    assert by_number[reserved.e164][1]["after"]["organization"] is None
    for n in (reserved, locked):
        after = PhoneNumber.objects.get(pk=n.pk)
        assert by_number[n.e164][1]["after"]["state"] == after.state
    mark = last_id()
    numbers_expire_due(now=later)  # nothing left: nothing told
    assert since(mark) == []


def test_a_renewal_tells_the_subscription_and_the_charged_reservations_that_follow(
        make_numbers, customer, make_subscription, ops_user, now):
    did = make_subscription(customer, kind="did_reservation", period_end=now + 30 * DAY)
    (n,) = make_numbers(1)
    number_reserve(numbers=[n], organization=customer, actor=ops_user, remark="r", now=now)
    number_extend(numbers=[n], did_reservation=did, actor=ops_user, now=now)
    mark = last_id()
    subscription_renew(subscription=did, current_period_end=now + 60 * DAY, actor=ops_user, now=now)
    extended, renewed = since(mark)
    assert (extended.type, renewed.type) == ("number.extended", "subscription.renewed")
    assert extended.data["subscription"] == str(did.uuid)
    assert extended.data["numbers"][0]["after"]["expires_at"] == (now + 60 * DAY).isoformat()
    assert renewed.data["subscription"]["current_period_end"] == (now + 60 * DAY).isoformat()
    assert renewed.data["subscription"]["before"]["current_period_end"] == (now + 30 * DAY).isoformat()

    mark = last_id()
    subscription_renew(subscription=did, current_period_end=now + 60 * DAY, actor=ops_user, now=now)
    subscription_set_status(subscription=did, status="active", actor=ops_user, now=now)
    assert since(mark) == []  # the same end, the same status: nothing changed, nothing told


def test_an_import_tells_new_and_changed_numbers_and_a_dry_run_nothing(tmp_path, sample_catalog,
                                                                       ops_user, customer):
    first = tmp_path / "first.csv"
    first.write_text(f"{HEAD},notes\n+6566200001,SG,M1 Trunks,SG-DID-STD,old\n")
    mark = last_id()
    assert import_file(first, actor=ops_user).imported
    assert told(mark) == [("number.added", ["+6566200001"])]

    second = tmp_path / "second.csv"
    second.write_text(f"{HEAD},notes,state,organization\n"
                      "+6566200001,SG,M1 Trunks,SG-DID-STD,new,,\n"
                      f"+6566200002,SG,M1 Trunks,SG-DID-STD,,reserved,{customer.uuid}\n"
                      "+6566200003,SG,M1 Trunks,SG-DID-STD,,,\n")
    mark = last_id()
    assert import_file(second, actor=ops_user, dry_run=True).created == 2
    assert since(mark) == []
    assert import_file(second, actor=ops_user).imported
    assert sorted((t, sorted(e164s)) for t, e164s in told(mark)) == [
        ("number.added", ["+6566200002", "+6566200003"]), ("number.updated", ["+6566200001"])]
    added = {n["e164"]: n["after"]["state"] for e in since(mark) if e.type == "number.added"
             for n in e.data["numbers"]}
    assert added == {"+6566200002": "reserved", "+6566200003": "available"}
    mark = last_id()
    assert import_file(second, actor=ops_user).imported  # a re-import changes nothing
    assert since(mark) == []


def test_the_expiring_notice_is_told_once_with_each_numbers_end(make_numbers, customer, ops_user, now):
    numbers = make_numbers(2)
    number_reserve(numbers=numbers, organization=customer, actor=ops_user, remark="r", now=now)
    ends = PhoneNumber.objects.get(pk=numbers[0].pk).expires_at
    mark = last_id()
    assert notices_queue_due(now=ends - 6 * DAY) == 2
    (event,) = since(mark)
    assert event.type == "reservation.expiring" and event.data["notice"] == "reservation_expiring"
    assert {n["e164"]: n["after"]["expires_at"] for n in event.data["numbers"]} == {
        n.e164: ends.isoformat() for n in numbers}
    mark = last_id()
    assert notices_queue_due(now=ends - 5 * DAY) == 0  # noticed already
    assert since(mark) == []


def test_an_import_job_tells_its_end_and_its_preview_nothing(settings, tmp_path, sample_catalog, ops_user):
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = SimpleUploadedFile("numbers-basic.csv", (SAMPLES / "numbers-basic.csv").read_bytes())
    job = import_job_start(upload=upload, country="SG", all_or_nothing=False, actor=ops_user)
    mark = last_id()
    assert run_job(job.pk, confirm=False) == ImportJobStatus.PREVIEWED
    assert since(mark) == []
    import_job_confirm(job=job, actor=ops_user, all_or_nothing=False)
    assert run_job(job.pk, confirm=True) == ImportJobStatus.DONE
    *added, finished_type = [e.type for e in since(mark)]
    assert set(added) == {"number.added"} and finished_type == "import.finished"
    finished = since(mark)[-1]
    assert finished.type == "import.finished" and finished.actor_name == "ops"
    assert finished.data["import"] == {
        "id": job.pk, "uuid": str(job.uuid), "file": "numbers-basic.csv", "status": "done",
        "rows": 200, "created": 200, "changed": 0, "unchanged": 0, "refused": 0}
    assert sum(e.data["count"] for e in since(mark) if e.type == "number.added") == 200


def test_a_reserve_reaches_a_real_receiver_signed(make_numbers, customer, ops_user, endpoint, receiver,
                                                  now):
    (n,) = make_numbers(1)
    webhook_deliveries_send(now=now)  # the number.added of the setup
    sent = len(receiver.messages())
    number_reserve(numbers=[n], organization=customer, actor=ops_user, remark="for Beta", now=now)
    assert webhook_deliveries_send(now=now) == 1
    got = receiver.messages()[sent:]
    assert len(got) == 1
    body = Webhook(endpoint.secret).verify(got[0].body, got[0].headers)
    assert body["type"] == "number.reserved"
    assert body["data"]["numbers"][0]["e164"] == n.e164
    assert body["data"]["numbers"][0]["after"]["state"] == "reserved"
