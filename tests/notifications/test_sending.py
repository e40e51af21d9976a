"""Delivery through a real SMTP server on localhost: retries with backoff, failure, retry
from the admin; the beat schedules and the thin tasks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from inventory.services import number_lock, number_reserve
from notifications.models import Notice
from notifications.services import max_attempts, notices_queue_due, notices_send_pending

DAY = dt.timedelta(days=1)
pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_notice(make_numbers, customer, ops_user, now):
    """One reservation notice due at now + 21 days; returns that moment."""
    (number,) = make_numbers(1)
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="hold", now=now)
    at = now + 21 * DAY
    assert notices_queue_due(now=at) == 1
    return at


def test_a_temporary_smtp_failure_is_retried_after_the_backoff_and_then_delivered(
        smtp_settings, pending_notice):
    smtp = smtp_settings
    smtp.fail_next = 1
    at = pending_notice

    assert notices_send_pending(now=at) == 0
    notice = Notice.objects.get()
    assert (notice.status, notice.attempts) == ("pending", 1)
    assert "451" in notice.last_error
    assert notice.next_attempt_at == at + dt.timedelta(seconds=settings.NOTICE_RETRY_BACKOFF_SECONDS[0])

    assert notices_send_pending(now=at + dt.timedelta(seconds=1)) == 0  # not before the backoff
    assert smtp.messages() == []

    assert notices_send_pending(now=notice.next_attempt_at) == 1
    notice.refresh_from_db()
    assert (notice.status, notice.attempts, notice.last_error) == ("sent", 2, "")
    (received,) = smtp.messages()
    assert received["to"] == ["billing@beta.example"]
    assert received["message"]["X-Notice-Ids"] == str(notice.pk)
    assert received["message"].get_body(("html",)) is not None


def test_repeated_failures_end_failed_and_the_admin_retry_sends_it(
        smtp_settings, pending_notice, ops_user, client):
    smtp = smtp_settings
    smtp.fail_next = 100
    at = pending_notice
    for _ in range(max_attempts()):
        notices_send_pending(now=at)
        notice = Notice.objects.get()
        at = notice.next_attempt_at or at
    assert (notice.status, notice.attempts) == ("failed", max_attempts())
    assert notices_send_pending(now=at + 365 * DAY) == 0  # failed stays failed until retried
    assert smtp.refused == max_attempts()

    smtp.fail_next = 0
    client.force_login(ops_user)
    changelist = reverse("admin:notifications_notice_changelist")
    page = client.get(changelist, {"status__exact": "failed"})
    assert page.status_code == 200
    assert "Retry the selected notices now" in page.content.decode()
    assert "451" in page.content.decode()
    response = client.post(changelist, {"action": "retry", "_selected_action": [notice.pk]},
                           follow=True)
    assert "1 notice queued again" in response.content.decode()
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == ("pending", 0)

    assert notices_send_pending() == 1
    assert len(smtp.messages()) == 1


def test_a_permanent_smtp_refusal_fails_at_once(smtp_settings, pending_notice):
    smtp_settings.fail_next, smtp_settings.fail_code = 1, 550
    notices_send_pending(now=pending_notice)
    notice = Notice.objects.get()
    assert (notice.status, notice.attempts) == ("failed", 1)
    assert "550" in notice.last_error


def test_a_mail_server_that_is_down_means_retry_later(settings, pending_notice):
    from tests.notifications.conftest import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    assert notices_send_pending(now=pending_notice) == 0
    notice = Notice.objects.get()
    assert (notice.status, notice.attempts) == ("pending", 1)
    assert "Connection" in notice.last_error or "refused" in notice.last_error


def test_retry_needs_its_own_permission(pending_notice, now):
    notices_send_pending(now=pending_notice)
    Notice.objects.update(status="failed", last_error="boom")
    viewer = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name="Ops read-only"))
    from django.test import Client

    client = Client()
    client.force_login(viewer)
    changelist = reverse("admin:notifications_notice_changelist")
    page = client.get(changelist)
    assert page.status_code == 200
    assert "Retry the selected notices now" not in page.content.decode()
    response = client.post(changelist, {"action": "retry",
                                        "_selected_action": [Notice.objects.get().pk]})
    assert Notice.objects.get().status == "failed"
    assert response.status_code in (200, 302, 403)


def test_notice_admin_filters_and_number_search(pending_notice, admin_user, client):
    notices_send_pending(now=pending_notice)
    notice = Notice.objects.select_related("number").get()
    client.force_login(admin_user)
    url = reverse("admin:notifications_notice_changelist")
    for params in ({"status__exact": "sent"}, {"kind__exact": "reservation_expiring"},
                   {"q": notice.number.e164[:8]}):
        page = client.get(url, params)
        assert page.status_code == 200
        assert notice.number.e164 in page.content.decode(), params
    assert notice.number.e164 not in client.get(url, {"q": "+4420"}).content.decode()
    detail = client.get(reverse("admin:notifications_notice_change", args=[notice.pk]))
    assert detail.status_code == 200
    assert client.get(reverse("admin:notifications_notice_add")).status_code == 403


def test_default_schedules_exist_and_name_registered_tasks():
    from django_celery_beat.models import PeriodicTask

    from numbermgmt.celery import app

    app.loader.import_default_modules()
    schedules = {
        t.task: (t.interval.every, t.interval.period)
        for t in PeriodicTask.objects.select_related("interval").filter(enabled=True)
    }
    expected = {
        "inventory.numbers_expire_due_task": (5, "minutes"),
        "notifications.notices_queue_due_task": (15, "minutes"),
        "notifications.notices_send_pending_task": (1, "minutes"),
        "subscriptions.subscriptions_expire_due_task": (1, "hours"),
    }
    assert {task: schedules.get(task) for task in expected} == expected
    assert set(expected) <= set(app.tasks)


def test_the_tasks_call_the_services_and_history_names_the_system(
        make_numbers, partner, customer, service, ops_user, now, mailoutbox):
    from inventory.services import number_assign
    from inventory.tasks import numbers_expire_due_task as numbers_expire_due
    from notifications.tasks import notices_queue_due_task as queue_task
    from notifications.tasks import notices_send_pending_task as send_task
    from subscriptions.tasks import subscriptions_expire_due_task

    assigned, locked = make_numbers(2, visible_to=partner)
    number_assign(numbers=[assigned], subscription=service, actor=ops_user, remark="go", now=now)
    number_lock(numbers=[locked], actor=ops_user, remark="hold", now=now - 29 * DAY)
    service.current_period_end = now - DAY
    service.save(update_fields=["current_period_end"])

    assert subscriptions_expire_due_task.apply().get() == 1
    assert numbers_expire_due.apply().get() == 1
    assert queue_task.apply().get() == 0
    assert send_task.apply().get() == 1
    assigned.refresh_from_db()
    locked.refresh_from_db()
    service.refresh_from_db()
    assert service.status == "expired"
    assert (assigned.state, assigned.organization_id) == ("reserved", customer.pk)
    assert assigned.expires_at.date() == (now + 56 * DAY).date()
    assert locked.state == "available"
    for number in (assigned, locked):
        assert number.history.latest("history_date").history_user.username == settings.SYSTEM_USERNAME
    assert [m.subject for m in mailoutbox] == [
        f"{settings.EMAIL_SUBJECT_PREFIX}Lock ended on {(now - DAY).strftime('%-d %b %Y')}: {locked.e164}"
    ]


def test_a_lapsed_did_reservation_releases_its_charged_numbers_at_the_next_sweep(
        make_numbers, customer, make_subscription, ops_user, now):
    from inventory.services import number_extend
    from inventory.tasks import numbers_expire_due_task as numbers_expire_due
    from subscriptions.tasks import subscriptions_expire_due_task

    (number,) = make_numbers(1)
    number_reserve(numbers=[number], organization=customer, actor=ops_user, remark="hold",
                   now=now - 40 * DAY)
    did = make_subscription(customer, kind="did_reservation", period_end=now + 30 * DAY)
    number_extend(numbers=[number], did_reservation=did, actor=ops_user, now=now - 20 * DAY)
    assert numbers_expire_due.apply().get() == 0  # charged: held past the free period's end

    did.current_period_end = now - DAY  # the DID reservation subscription was not paid
    did.save(update_fields=["current_period_end"])
    assert subscriptions_expire_due_task.apply().get() == 1
    assert numbers_expire_due.apply().get() == 1
    number.refresh_from_db()
    assert (number.state, number.organization_id) == ("available", None)
    reasons = list(number.history.order_by("-history_date", "-history_id")
                   .values_list("history_change_reason", "history_user__username")[:2])
    assert reasons == [("reservation expired", "system"),
                       ("DID reservation subscription expired", "system")]
