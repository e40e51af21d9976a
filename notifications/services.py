"""Notices: decided in the transaction that makes them due, sent later from the outbox."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from .choices import NoticeKind, NoticeStatus
from .models import Notice

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BACKOFF_MINUTES = (1, 5, 15, 60, 240)


def lock_recipients(number) -> list[str]:
    """Lock notices go to the partner the number is visible to, and to platform support."""
    recipients = []
    if number.visible_to_id and number.visible_to.support_email:
        recipients.append(number.visible_to.support_email)
    if settings.SUPPORT_EMAIL:
        recipients.append(settings.SUPPORT_EMAIL)
    return recipients


def reservation_recipients(reservation) -> list[str]:
    """Reservation notices go to the reserver: a customer's billing, a partner's owner email."""
    org = reservation.organization
    email = (org.notice_email if org else "") or reservation.notice_email
    return [email] if email else []


def notices_create_lock_expired(*, pairs: Iterable, now: dt.datetime) -> int:
    """Called inside the expiry transaction, so the notice exists iff the lock ended."""
    notices = [
        Notice(kind=NoticeKind.LOCK_EXPIRED, number=number, reservation=reservation,
               ends_at=reservation.ends_at or now, recipients=lock_recipients(number), due_at=now)
        for number, reservation in pairs
    ]
    created = Notice.objects.bulk_create(notices, ignore_conflicts=True, batch_size=2000)
    return len(created)


def notices_queue_due(*, now: dt.datetime | None = None) -> int:
    """Write a notice for each reservation or lock ending within the lead time (7 days).

    Unique per (reservation, kind, end): reruns add nothing; an extension, which gives a
    new end, allows a new notice. Returns how many notices were new.
    """
    from inventory.choices import NumberState, PolicyCause, ReservationKind, ReservationStatus
    from inventory.models import Reservation
    from inventory.services import policy_days

    now = now or timezone.now()
    horizon = now + dt.timedelta(days=policy_days(PolicyCause.NOTICE_LEAD))
    due = (
        Reservation.objects.filter(
            status=ReservationStatus.ACTIVE, ends_at__gt=now, ends_at__lte=horizon,
            number__state__in=[NumberState.RESERVED, NumberState.LOCKED],
        )
        .exclude(notices__kind__in=[NoticeKind.RESERVATION_EXPIRING, NoticeKind.LOCK_EXPIRING])
        .select_related("number__visible_to", "organization")
        .order_by("pk")
    )
    created = 0
    batch: list[Notice] = []
    for reservation in due.iterator(chunk_size=2000):
        is_lock = reservation.kind == ReservationKind.LOCK
        batch.append(
            Notice(
                kind=NoticeKind.LOCK_EXPIRING if is_lock else NoticeKind.RESERVATION_EXPIRING,
                number=reservation.number,
                reservation=reservation,
                ends_at=reservation.ends_at,
                recipients=(lock_recipients(reservation.number) if is_lock
                            else reservation_recipients(reservation)),
                due_at=now,
            )
        )
        if len(batch) >= 2000:
            created += len(Notice.objects.bulk_create(batch, ignore_conflicts=True))
            batch = []
    if batch:
        created += len(Notice.objects.bulk_create(batch, ignore_conflicts=True))
    return created


def _render(kind: str, notices: list[Notice]) -> EmailMultiAlternatives:
    context = {
        "kind": kind,
        "kind_label": NoticeKind(kind).label,
        "notices": notices,
        "numbers": [n.number.e164 for n in notices],
        "ends_at": notices[0].ends_at,
    }
    subject = render_to_string("notifications/subject.txt", context).strip()
    text = render_to_string("notifications/notice.txt", context)
    html = render_to_string("notifications/notice.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL,
                                     list(notices[0].recipients))
    message.attach_alternative(html, "text/html")
    return message


def notices_send_pending(*, now: dt.datetime | None = None) -> int:
    """Send due notices, one email per (recipients, kind, end day). Returns notices sent.

    Rows are claimed with `skip_locked`, so overlapping runs never send one twice.
    A failure is retried with backoff; after MAX_ATTEMPTS the notice is failed (the
    admin can retry it).
    """
    now = now or timezone.now()
    sent = 0
    with transaction.atomic():
        pending = list(
            Notice.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=NoticeStatus.PENDING, due_at__lte=now)
            .exclude(next_attempt_at__gt=now)
            .select_related("number")
            .order_by("pk")[:500]
        )
        groups: dict[tuple, list[Notice]] = defaultdict(list)
        for notice in pending:
            key = (tuple(sorted(notice.recipients)), notice.kind, notice.ends_at.date())
            groups[key].append(notice)
        for (recipients, kind, _day), notices in groups.items():
            if not recipients:
                _mark(notices, error="no recipient address", now=now, final=True)
                continue
            try:
                _render(kind, notices).send(fail_silently=False)
            except Exception as exc:  # noqa: BLE001 - any delivery failure is recorded
                logger.warning("notice delivery failed: %s", exc)
                _mark(notices, error=f"{exc.__class__.__name__}: {exc}", now=now)
                continue
            for notice in notices:
                notice.status = NoticeStatus.SENT
                notice.sent_at = now
                notice.attempts += 1
                notice.last_error = ""
            Notice.objects.bulk_update(notices, ["status", "sent_at", "attempts", "last_error"])
            sent += len(notices)
    return sent


def _mark(notices: list[Notice], *, error: str, now: dt.datetime, final: bool = False) -> None:
    for notice in notices:
        notice.attempts += 1
        notice.last_error = error[:2000]
        if final or notice.attempts >= MAX_ATTEMPTS:
            notice.status = NoticeStatus.FAILED
            notice.next_attempt_at = None
        else:
            delay = BACKOFF_MINUTES[min(notice.attempts - 1, len(BACKOFF_MINUTES) - 1)]
            notice.next_attempt_at = now + dt.timedelta(minutes=delay)
    Notice.objects.bulk_update(notices, ["attempts", "last_error", "status", "next_attempt_at"])


def notices_retry(*, notices) -> int:
    """Put failed notices back in the queue (admin action)."""
    count = 0
    with transaction.atomic():
        for notice in notices.select_for_update().filter(status=NoticeStatus.FAILED):
            notice.status = NoticeStatus.PENDING
            notice.attempts = 0
            notice.next_attempt_at = None
            notice.save(update_fields=["status", "attempts", "next_attempt_at"])
            count += 1
    return count
