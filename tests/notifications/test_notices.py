"""The notice rules over time, with an explicit `now`: who is told, when, once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.core import mail

from inventory.models import PhoneNumber, Reservation
from inventory.services import (
    number_assign,
    number_extend,
    number_lock,
    number_release,
    number_reserve,
    numbers_expire_due,
)
from notifications.models import Notice
from notifications.services import notices_queue_due, notices_send_pending
from subscriptions.services import subscription_renew, subscription_swap_number

DAY = dt.timedelta(days=1)
pytestmark = pytest.mark.django_db


def run_beat(at):
    """What beat does at `at`: expire, queue notices, send them."""
    numbers_expire_due(now=at)
    notices_queue_due(now=at)
    return notices_send_pending(now=at)


def body(message) -> str:
    return message.body + "\n" + message.alternatives[0][0]


def test_reservation_notice_goes_to_the_customer_seven_days_before_the_end(
        make_numbers, customer, ops_user, now):
    (number,) = make_numbers(1)
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="hold", now=now)
    ends = now + 28 * DAY

    run_beat(now + 20 * DAY)  # 8 days before the end: too early
    assert Notice.objects.count() == 0
    assert mail.outbox == []

    assert run_beat(now + 21 * DAY) == 1  # 7 days before
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["billing@beta.example"]
    assert number.e164 in message.subject or number.e164 in message.body
    text = body(message)
    assert number.e164 in text
    assert ends.strftime("%-d %B %Y") in text
    for action in ("assign", "extend", "release"):
        assert action in text
    notice = Notice.objects.get()
    assert (notice.kind, notice.status, notice.ends_at) == ("reservation_expiring", "sent", ends)

    # Reruns, the same day and the days after, send nothing more.
    for day in (21, 22, 27):
        run_beat(now + day * DAY)
    assert len(mail.outbox) == 1
    assert Notice.objects.count() == 1


def test_partner_reservation_notice_goes_to_the_partner_owner(make_numbers, partner, ops_user, now):
    numbers = make_numbers(2)
    number_reserve(numbers=numbers, organization=partner, actor=ops_user, remark="hold", now=now)
    run_beat(now + 22 * DAY)
    assert [m.to for m in mail.outbox] == [["owner@acme.example"]]


def test_lock_notices_go_to_partner_and_platform_support_before_and_after_the_end(
        make_numbers, partner, ops_user, now):
    (number,) = make_numbers(1, visible_to=partner)
    number_lock(numbers=[number], actor=ops_user, remark="investigating", now=now)
    expected = sorted(["support@acme.example", settings.SUPPORT_EMAIL])

    run_beat(now + 21 * DAY)
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == expected
    assert "locked until" in mail.outbox[0].body

    run_beat(now + 28 * DAY)  # the lock ends: the number is free, and both are told
    number.refresh_from_db()
    assert number.state == "available"
    assert len(mail.outbox) == 2
    assert sorted(mail.outbox[1].to) == expected
    assert "ended" in mail.outbox[1].body
    assert sorted(Notice.objects.values_list("kind", flat=True)) == ["lock_expired", "lock_expiring"]
    last = number.history.latest("history_date")
    assert last.history_user.username == settings.SYSTEM_USERNAME
    assert last.history_change_reason == "lock expired"

    run_beat(now + 29 * DAY)
    assert len(mail.outbox) == 2


def test_lock_of_a_number_visible_to_nobody_goes_to_platform_support_only(make_numbers, ops_user, now):
    (number,) = make_numbers(1)
    number_lock(numbers=[number], actor=ops_user, remark="check", now=now)
    run_beat(now + 21 * DAY)
    assert mail.outbox[0].to == [settings.SUPPORT_EMAIL]


def test_legacy_permanent_lock_never_gets_a_notice(vendor, sku, now):
    from inventory.services import number_add

    number_add(numbers="+6560000100", vendor=vendor, sku=sku, actor=None, state="locked",
               expires_at=None, now=now)
    run_beat(now + 400 * DAY)
    assert Notice.objects.count() == 0
    assert PhoneNumber.objects.get(e164="+6560000100").state == "locked"


def test_an_extension_gives_a_new_end_and_so_a_new_notice(make_numbers, customer, ops_user,
                                                          make_subscription, now):
    (number,) = make_numbers(1)
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="hold", now=now)
    run_beat(now + 21 * DAY)
    assert len(mail.outbox) == 1

    did = make_subscription(customer, kind="did_reservation", period_end=now + 40 * DAY)
    number_extend(numbers=[number], did_reservation=did, actor=ops_user, now=now + 22 * DAY)
    run_beat(now + 28 * DAY)  # the free period's end passes: the charged reservation holds it
    number.refresh_from_db()
    assert number.state == "reserved"
    assert len(mail.outbox) == 1

    run_beat(now + 33 * DAY)  # 7 days before the charged end
    assert len(mail.outbox) == 2
    assert (now + 40 * DAY).strftime("%-d %B %Y") in mail.outbox[1].body

    # The DID subscription renews: the reservation follows, and gets a notice for its new end.
    subscription_renew(subscription=did, current_period_end=now + 70 * DAY, actor=ops_user,
                       now=now + 34 * DAY)
    run_beat(now + 40 * DAY)
    assert len(mail.outbox) == 2
    run_beat(now + 63 * DAY)
    assert len(mail.outbox) == 3
    assert (now + 70 * DAY).strftime("%-d %B %Y") in mail.outbox[2].body
    run_beat(now + 64 * DAY)
    assert len(mail.outbox) == 3


def test_numbers_of_one_recipient_ending_the_same_day_go_in_one_email(
        make_numbers, customer, other_customer, ops_user, now):
    ours = make_numbers(3)
    theirs = make_numbers(2, start="+6560000500")
    later = make_numbers(1, start="+6560000900")
    number_reserve(numbers=ours, organization=customer, actor=ops_user, remark="a", now=now)
    number_reserve(numbers=theirs, organization=other_customer, actor=ops_user, remark="b", now=now)
    number_reserve(numbers=later, organization=customer, actor=ops_user, remark="c",
                   now=now + 2 * DAY)

    assert run_beat(now + 23 * DAY) == 6
    by_recipient: dict[str, list] = {}
    for message in mail.outbox:
        by_recipient.setdefault(message.to[0], []).append(message)
    assert sorted(len(v) for v in by_recipient.values()) == [1, 2]
    assert len(by_recipient["billing@gamma.example"]) == 1
    same_day = [m for m in by_recipient["billing@beta.example"] if ours[0].e164 in m.body][0]
    assert all(n.e164 in same_day.body for n in ours)
    assert later[0].e164 not in same_day.body
    assert "3 numbers" in same_day.subject


def test_a_one_day_swap_out_is_noticed_at_once_in_the_same_transaction(
        make_numbers, customer, service, ops_user, now, django_capture_on_commit_callbacks):
    old, new = make_numbers(2)
    number_assign(numbers=[old], subscription=service, actor=ops_user, remark="go", now=now)
    with django_capture_on_commit_callbacks() as callbacks:
        subscription_swap_number(subscription=service, old=old, new=new, actor=ops_user,
                                 remark="customer asked", now=now)
    notice = Notice.objects.get()
    assert notice.number_id == old.pk
    assert notice.ends_at == now + DAY
    assert notice.recipients == ["billing@beta.example"]
    assert len(callbacks) == 1  # the kick that asks a worker to send it now
    assert notices_send_pending(now=now) == 1
    assert mail.outbox[0].to == ["billing@beta.example"]


def test_a_notice_no_longer_true_is_cancelled_not_sent(make_numbers, customer, service, ops_user, now):
    a, b = make_numbers(2)
    number_reserve(numbers=[a, b], organization=customer, actor=ops_user, remark="hold", now=now)
    notices_queue_due(now=now + 22 * DAY)
    assert Notice.objects.filter(status="pending").count() == 2
    number_assign(numbers=[a], subscription=service, actor=ops_user, remark="taken",
                  now=now + 22 * DAY)
    number_release(numbers=[b], actor=ops_user, remark="not needed", now=now + 22 * DAY)

    assert notices_send_pending(now=now + 22 * DAY) == 0
    assert mail.outbox == []
    assert set(Notice.objects.values_list("status", flat=True)) == {"cancelled"}
    assert "assigned" in Notice.objects.get(number=a).last_error


def test_a_reserver_without_address_leaves_a_failed_notice_saying_why(make_numbers, partner, ops_user,
                                                                      now):
    from subscriptions.models import Organization

    silent = Organization.objects.create(name="No Mail Ltd", kind="customer", parent=partner)
    (number,) = make_numbers(1)
    number_reserve(numbers=[number], organization=silent, actor=ops_user, remark="hold", now=now)
    run_beat(now + 22 * DAY)
    notice = Notice.objects.get()
    assert notice.status == "failed"
    assert "no recipient address" in notice.last_error
    assert mail.outbox == []


def test_expiry_history_names_the_system_and_reservations_are_closed(make_numbers, customer, ops_user,
                                                                     now):
    numbers = make_numbers(3)
    number_reserve(numbers=numbers, organization=customer, actor=ops_user, remark="hold", now=now)
    assert numbers_expire_due(now=now + 27 * DAY) == 0
    assert numbers_expire_due(now=now + 28 * DAY) == 3
    assert numbers_expire_due(now=now + 28 * DAY) == 0
    for number in numbers:
        number.refresh_from_db()
        assert (number.state, number.organization_id, number.expires_at) == ("available", None, None)
        latest = number.history.latest("history_date")
        assert latest.history_user.username == settings.SYSTEM_USERNAME
        assert latest.history_change_reason == "reservation expired"
    assert set(Reservation.objects.values_list("status", flat=True)) == {"expired"}
    assert not number.history.filter(history_user__isnull=True, history_change_reason="reservation expired")
