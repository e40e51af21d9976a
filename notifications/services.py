"""Notices: decided in the transaction that makes them due, sent later from the outbox.

A `Notice` row is the promise of an email. It is written in the same transaction as the
decision (a reservation that ends soon, a lock that ended), unique per (reservation, kind,
end), so a rerun writes nothing and an extension, which gives a new end, writes a new one.
Sending claims rows with `skip_locked` and a short lease, mails one message per
(recipients, kind, end day), and records the outcome: sent, retry later with backoff, or
failed after the last attempt (the admin can retry). A notice whose reservation ended or
moved before it went out is cancelled rather than sent: it would no longer be true.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import smtplib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TypedDict

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from events.choices import EventType
from events.services import NumberChange, NumberSnapshot, events_emit
from inventory.choices import NumberState, PolicyCause, ReservationKind, ReservationStatus
from inventory.models import LifecyclePolicy, Reservation
from inventory.services.policies import Policies
from subscriptions.models import Organization

from .choices import NoticeKind, NoticeStatus
from .models import Notice
from .outbox import enqueue_best_effort

logger = logging.getLogger(__name__)
SEND_TASK = "notifications.notices_send_pending_task"
BATCH = 2000
MAX_NUMBERS_PER_EMAIL = 1000  # beyond this one email is split, to stay readable and deliverable
ADVISORY_CLASS = 0x4E4F  # "NO": the namespace of the notice-group advisory locks
EXPIRING_KINDS = (NoticeKind.RESERVATION_EXPIRING, NoticeKind.LOCK_EXPIRING)


def backoff_seconds() -> list[int]:
    return list(getattr(settings, "NOTICE_RETRY_BACKOFF_SECONDS", [60, 300, 900, 3600, 14400]))


def max_attempts() -> int:
    """The first try plus one per backoff step; then the notice is failed."""
    return len(backoff_seconds()) + 1


# --- recipients ------------------------------------------------------------------------


def _unique(addresses: Iterable[str]) -> list[str]:
    return sorted({a.strip().lower() for a in addresses if a and a.strip()})


def _support_emails(partner_ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in partner_ids if i}
    return dict(Organization.objects.filter(pk__in=wanted).values_list("pk", "support_email"))


def lock_recipients(number, support_by_partner: dict[int, str] | None = None) -> list[str]:
    """Lock notices go to the partner the number is visible to, and to platform support."""
    if support_by_partner is None:
        support_by_partner = _support_emails([number.visible_to_id])
    return _unique([support_by_partner.get(number.visible_to_id, ""), settings.SUPPORT_EMAIL])


def reservation_recipients(reservation) -> list[str]:
    """Reservation notices go to the reserver: a customer's billing, a partner's owner email.

    The organization's current address wins; the snapshot taken at reservation time is the
    fallback (the organization may have no address any more).
    """
    org = reservation.organization
    return _unique([(org.notice_email if org else "") or reservation.notice_email])


def _expiring_notice(reservation, number, *, now: dt.datetime, support: dict[int, str]) -> Notice:
    is_lock = reservation.kind == ReservationKind.LOCK
    return Notice(
        kind=NoticeKind.LOCK_EXPIRING if is_lock else NoticeKind.RESERVATION_EXPIRING,
        number=number,
        reservation=reservation,
        ends_at=reservation.ends_at,
        recipients=lock_recipients(number, support) if is_lock else reservation_recipients(reservation),
        due_at=now,
    )


def _expiring_publish(notices: Sequence[Notice], *, now: dt.datetime) -> None:
    """reservation.expiring for new expiring notices, one event per notice kind and 1,000
    numbers (each with the end the notice names), in the transaction that writes them."""
    by_kind: dict[str, list[NumberChange]] = defaultdict(list)
    for notice in notices:
        told = NumberSnapshot.of(notice.number)._replace(expires_at=notice.ends_at)
        by_kind[notice.kind].append(NumberChange(notice.number.e164, told, told))
    for kind, changes in by_kind.items():
        events_emit(type=EventType.RESERVATION_EXPIRING, actor=None, remark=f"{kind} notice queued",
                    numbers_before_after=changes, data={"notice": kind}, now=now)


def _write_expiring(notices: Sequence[Notice], *, now: dt.datetime) -> int:
    """A batch of expiring notices and its events, committed together."""
    with transaction.atomic():
        written = _write(notices)
        _expiring_publish(notices, now=now)
    return written


def _write(notices: Sequence[Notice]) -> int:
    """Insert, skipping any (reservation, kind, end) that already has its notice.

    Returns how many were offered: with ignore_conflicts the database does not say which
    were skipped, so a rerun over the same reservations reports them again (harmless)."""
    if not notices:
        return 0
    Notice.objects.bulk_create(notices, ignore_conflicts=True, batch_size=BATCH)
    return len(notices)


# --- deciding --------------------------------------------------------------------------


def notices_for_new_reservations(*, reservations: Sequence, now: dt.datetime) -> int:
    """A reservation or lock that already ends within the lead time gets its notice now.

    Called by inventory.services inside the transaction that opens the reservations (a
    swap-out holds a number for one day, a short policy may do the same), so the notice
    exists exactly when the reservation does, and a send is kicked after the commit.
    """
    candidates = [r for r in reservations if r.pk and r.ends_at and r.ends_at > now]
    if not candidates:
        return 0
    lead = Policies(PolicyCause.NOTICE_LEAD)
    soon = [r for r in candidates if r.ends_at <= now + dt.timedelta(days=lead.days(r.number))]
    if not soon:
        return 0
    support = _support_emails(r.number.visible_to_id for r in soon)
    notices = [_expiring_notice(r, r.number, now=now, support=support) for r in soon]
    written = _write(notices)
    _expiring_publish(notices, now=now)
    if written:
        kick_send()
    return written


def notices_create_lock_expired(*, pairs: Iterable, now: dt.datetime) -> int:
    """Called inside the expiry transaction, so the notice exists iff the lock ended."""
    pairs = list(pairs)
    support = _support_emails(number.visible_to_id for number, _ in pairs)
    return _write([
        Notice(kind=NoticeKind.LOCK_EXPIRED, number=number, reservation=reservation,
               ends_at=reservation.ends_at or now, recipients=lock_recipients(number, support),
               due_at=now)
        for number, reservation in pairs
    ])


def notices_write_lock_expired(*, locks: Iterable[tuple[int, int, dt.datetime | None, int | None]],
                               now: dt.datetime) -> int:
    """The lock-expired notices of a sweep's batch, set-wise: (number id, lock reservation
    id, its end, the partner the number is visible to) each. Called inside the expiry
    transaction, so a notice exists iff its lock ended; a rerun writes none (unique per
    reservation, kind and end). PostgreSQL: one INSERT … SELECT FROM unnest per distinct
    recipient list; elsewhere notices_create_lock_expired's bulk insert."""
    locks = list(locks)
    if not locks:
        return 0
    support = _support_emails(visible_to for *_, visible_to in locks)
    by_recipients: dict[tuple[str, ...], list[tuple]] = defaultdict(list)
    for number_id, reservation_id, ends_at, visible_to in locks:
        to = _unique([support.get(visible_to, "") if visible_to else "", settings.SUPPORT_EMAIL])
        by_recipients[tuple(to)].append((number_id, reservation_id, ends_at or now))
    if connection.vendor != "postgresql":
        return _write([
            Notice(kind=NoticeKind.LOCK_EXPIRED, number_id=number_id, reservation_id=reservation_id,
                   ends_at=ends_at, recipients=list(recipients), due_at=now)
            for recipients, rows in by_recipients.items() for number_id, reservation_id, ends_at in rows
        ])
    from inventory.bulk import bound_cursor, pg_array

    sql = ("INSERT INTO notifications_notice (kind, number_id, reservation_id, ends_at, recipients, "
           "due_at, status, attempts, last_error, created_at) "
           "SELECT %s, v.number_id, v.reservation_id, v.ends_at, %s::jsonb, %s, %s, 0, '', %s "
           "FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) "
           "AS v(number_id, reservation_id, ends_at) "
           "ON CONFLICT DO NOTHING")
    with bound_cursor() as cursor:
        for addresses, rows in by_recipients.items():
            cursor.execute(sql, [NoticeKind.LOCK_EXPIRED, json.dumps(list(addresses)), now,
                                 NoticeStatus.PENDING, now, pg_array(r[0] for r in rows),
                                 pg_array(r[1] for r in rows), pg_array(r[2] for r in rows)])
    return len(locks)


def notices_queue_due(*, now: dt.datetime | None = None) -> int:
    """Write a notice for each reservation or lock ending within the lead time (7 days).

    Unique per (reservation, kind, end): reruns add nothing; an extension or a renewal,
    which gives a new end, allows a new notice. Each batch commits on its own, so a crash
    loses nothing and a rerun resumes. Returns how many notices were written.
    """
    now = now or timezone.now()
    lead = Policies(PolicyCause.NOTICE_LEAD)
    longest = max(
        [lead.days()] + list(LifecyclePolicy.objects.filter(cause=PolicyCause.NOTICE_LEAD)
                             .values_list("period_days", flat=True))
    )
    noticed = Notice.objects.filter(
        reservation=OuterRef("pk"), ends_at=OuterRef("ends_at"), kind__in=EXPIRING_KINDS
    )
    due = (
        Reservation.objects.filter(
            status=ReservationStatus.ACTIVE, ends_at__gt=now,
            ends_at__lte=now + dt.timedelta(days=longest),
            number__state__in=[NumberState.RESERVED, NumberState.LOCKED],
        )
        .filter(~Exists(noticed))
        .select_related("number__visible_to", "organization")
        .order_by("pk")
    )
    written = 0
    batch: list[Notice] = []
    support: dict[int, str] = {}
    for reservation in due.iterator(chunk_size=BATCH):
        number = reservation.number
        # ends_at is never None here (filtered on ends_at__gt); the check narrows the type
        if reservation.ends_at is None or reservation.ends_at > now + dt.timedelta(days=lead.days(number)):
            continue
        visible_to = number.visible_to  # loaded by select_related above: no query
        if visible_to is not None:
            support[visible_to.pk] = visible_to.support_email
        batch.append(_expiring_notice(reservation, number, now=now, support=support))
        if len(batch) >= BATCH:
            written += _write_expiring(batch, now=now)
            batch = []
    written += _write_expiring(batch, now=now)
    if written:
        kick_send()
    return written


# --- sending ---------------------------------------------------------------------------


def _sendable(now: dt.datetime) -> QuerySet[Notice]:
    return Notice.objects.filter(status=NoticeStatus.PENDING, due_at__lte=now).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _obsolete(notice: Notice) -> str:
    """Why a notice is no longer true ("" when it still is)."""
    if notice.kind == NoticeKind.LOCK_EXPIRED:
        return ""
    reservation = notice.reservation
    if reservation.status != ReservationStatus.ACTIVE:
        return f"not sent: the {reservation.get_kind_display().lower()} was {reservation.status} first"
    if reservation.ends_at != notice.ends_at:
        return "not sent: the end date changed (a new notice follows if it is still near)"
    return ""


def _group_key(recipients: Sequence[str], kind: str, ends_at: dt.datetime) -> tuple:
    return tuple(sorted(recipients)), kind, timezone.localdate(ends_at)


class NoticeItem(TypedDict):
    """One number's line in a notice email (the templates read these keys)."""

    e164: str
    ends_at: dt.datetime
    reserver: str
    reserved_for: str
    kind: str


def render_notice_email(notices: Sequence[Notice], *,
                        connection: BaseEmailBackend | None = None) -> EmailMultiAlternatives:
    """One email for notices that share recipients, kind and end day."""
    first = notices[0]
    kind = NoticeKind(first.kind)
    items = sorted(
        (
            NoticeItem(
                e164=n.number.e164,
                ends_at=n.ends_at,
                reserver=n.reservation.reserver_name,
                reserved_for=n.reservation.reserved_for,
                kind=n.reservation.get_kind_display(),
            )
            for n in notices
        ),
        key=lambda item: item["e164"],
    )
    site = getattr(settings, "SITE_URL", "")
    context = {
        "kind": kind.value,
        "kind_label": kind.label,
        "items": items,
        "numbers": [item["e164"] for item in items],
        "count": len(items),
        "ends_at": min(n.ends_at for n in notices),
        "end_day": timezone.localdate(first.ends_at),
        "site_url": site,
        "dashboard_url": f"{site}/partner/numbers/" if site else "",
        "support_email": settings.SUPPORT_EMAIL,
    }
    subject = " ".join(render_to_string("notifications/subject.txt", context).split())
    text = render_to_string("notifications/notice.txt", context)
    html = render_to_string("notifications/notice.html", context)
    message = EmailMultiAlternatives(
        f"{settings.EMAIL_SUBJECT_PREFIX}{subject}", text, settings.DEFAULT_FROM_EMAIL,
        list(first.recipients), connection=connection,
        headers={"X-Notice-Ids": ",".join(str(n.pk) for n in notices)},
    )
    message.attach_alternative(html, "text/html")
    return message


def _is_permanent(exc: Exception) -> bool:
    """An SMTP 5xx answer will not change by retrying; anything else might."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


class _Mailer:
    """One email-backend connection per run, reopened after an error."""

    def __init__(self):
        self.connection = None

    def send(self, message: EmailMultiAlternatives) -> None:
        if self.connection is None:
            self.connection = get_connection(fail_silently=False)
        message.connection = self.connection
        try:
            message.send(fail_silently=False)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped either way
                self.connection.close()
            self.connection = None


def _group_lock(key: tuple) -> bool:
    """PostgreSQL: one sender per group at a time, so a group is never split over two emails.

    A transaction-level advisory lock on a hash of the group key; a sender that does not
    get it skips the group (the holder is sending it). Elsewhere there is nothing to take.
    """
    if connection.vendor != "postgresql":
        return True
    digest = hashlib.blake2b(repr(key).encode(), digest_size=4).digest()
    objid = int.from_bytes(digest, "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [ADVISORY_CLASS, objid])
        return bool(cursor.fetchone()[0])


def _claim(key: tuple, ids: list[int], now: dt.datetime) -> list[Notice]:
    """Lock the group's sendable rows (skipping rows another sender holds) and lease them.

    The lease (`next_attempt_at` a few minutes ahead) is committed before the email goes
    out, so no other sender takes these rows while this one talks to the mail server, and
    a sender that dies mid-send leaves them to be retried once the lease runs out.
    """
    lease = now + dt.timedelta(seconds=getattr(settings, "NOTICE_SEND_LEASE_SECONDS", 300))
    with transaction.atomic():
        if not _group_lock(key):
            return []
        rows = list(
            _sendable(now)
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=ids)
            .select_related("number", "reservation", "reservation__organization")
            .order_by("pk")
        )
        live: list[Notice] = []
        cancelled: dict[str, list[int]] = defaultdict(list)  # reason → notice ids
        for notice in rows:
            if reason := _obsolete(notice):
                notice.status, notice.last_error, notice.next_attempt_at = (
                    NoticeStatus.CANCELLED, reason, None)
                cancelled[reason].append(notice.pk)
            else:
                live.append(notice)
        for reason, cancelled_ids in cancelled.items():
            Notice.objects.filter(pk__in=cancelled_ids).update(
                status=NoticeStatus.CANCELLED, last_error=reason, next_attempt_at=None)
        if live:
            Notice.objects.filter(pk__in=[n.pk for n in live]).update(next_attempt_at=lease)
    return live


def _record_sent(notices: list[Notice], now: dt.datetime) -> None:
    for notice in notices:
        notice.status = NoticeStatus.SENT
        notice.sent_at = now
        notice.attempts += 1
        notice.last_error = ""
        notice.next_attempt_at = None
    Notice.objects.bulk_update(notices, ["status", "sent_at", "attempts", "last_error",
                                         "next_attempt_at"])


def _record_failure(notices: list[Notice], *, error: str, now: dt.datetime, final: bool) -> None:
    steps = backoff_seconds()
    for notice in notices:
        notice.attempts += 1
        notice.last_error = error[:2000]
        if final or notice.attempts >= max_attempts():
            notice.status = NoticeStatus.FAILED
            notice.next_attempt_at = None
        else:
            notice.next_attempt_at = now + dt.timedelta(seconds=steps[notice.attempts - 1])
    Notice.objects.bulk_update(notices, ["attempts", "last_error", "status", "next_attempt_at"])


def notices_send_pending(*, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Send due notices, one email per (recipients, kind, end day) — at most
    MAX_NUMBERS_PER_EMAIL numbers each. Returns how many notices were sent.

    Safe to overlap: each group's rows are claimed with `skip_locked` and leased before the
    email goes out, so two runs never send one notice twice. A failed delivery is retried
    with backoff (NOTICE_RETRY_BACKOFF_SECONDS); an SMTP 5xx or the last attempt marks the
    notice failed, to be retried from the admin.
    """
    now = now or timezone.now()
    sent = 0
    mailer = _Mailer()
    try:
        while True:
            candidates = list(
                _sendable(now).order_by("pk").values_list("pk", "recipients", "kind", "ends_at")[:limit]
            )
            groups: dict[tuple, list[int]] = defaultdict(list)
            for pk, recipients, kind, ends_at in candidates:
                groups[_group_key(recipients, kind, ends_at)].append(pk)
            handled = 0
            for key, ids in groups.items():
                for start in range(0, len(ids), MAX_NUMBERS_PER_EMAIL):
                    notices = _claim(key, ids[start : start + MAX_NUMBERS_PER_EMAIL], now)
                    handled += len(notices)
                    if notices:
                        sent += _deliver(notices, mailer, now)
            if len(candidates) < limit or not handled:
                return sent
    finally:
        mailer.close()


def _deliver(notices: list[Notice], mailer: _Mailer, now: dt.datetime) -> int:
    if not notices[0].recipients:
        _record_failure(notices, error="no recipient address (set the organization's email, "
                        "then retry)", now=now, final=True)
        return 0
    try:
        mailer.send(render_notice_email(notices))
    except Exception as exc:  # noqa: BLE001 - any delivery failure is recorded on the rows
        logger.warning("notice delivery to %s failed: %s", notices[0].recipients, exc)
        _record_failure(notices, error=f"{exc.__class__.__name__}: {exc}", now=now,
                        final=_is_permanent(exc))
        return 0
    _record_sent(notices, now)
    return len(notices)


def seconds_until_next_retry(*, now: dt.datetime | None = None) -> float | None:
    """When the soonest pending retry is due (None: nothing waits). The send task uses it."""
    now = now or timezone.now()
    soonest = (
        Notice.objects.filter(status=NoticeStatus.PENDING, next_attempt_at__isnull=False)
        .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    )
    if soonest is None:
        return None
    return max((soonest - now).total_seconds(), 0.0)


def notices_retry(*, notices: QuerySet[Notice], now: dt.datetime | None = None) -> int:
    """Put failed notices (and pending ones waiting for a retry) back in the queue now.

    Admin action. The next send run takes them; one is kicked after the commit.
    """
    now = now or timezone.now()
    with transaction.atomic():
        count = (
            notices.filter(Q(status=NoticeStatus.FAILED)
                           | Q(status=NoticeStatus.PENDING, attempts__gt=0, next_attempt_at__gt=now))
            .update(status=NoticeStatus.PENDING, attempts=0, next_attempt_at=None, due_at=now)
        )
        if count:
            kick_send()
    return count


def kick_send() -> None:
    """Ask a worker to send pending notices soon (best effort, after the commit)."""
    # By name: notifications.tasks calls these services, so this module does not import it.
    enqueue_best_effort(current_app.signature(SEND_TASK))
