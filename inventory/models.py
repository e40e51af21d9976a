from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from .choices import (
    NUMBER_PERMISSIONS,
    AfterHoldState,
    DeleteReason,
    ImportJobStatus,
    NumberState,
    PolicyCause,
    ReservationKind,
    ReservationStatus,
)


class Vendor(models.Model):
    """The carrier a number comes from (the seeds' "operator")."""

    name = models.CharField(max_length=200, unique=True)
    reseller = models.ForeignKey(
        "subscriptions.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resold_vendors",
        limit_choices_to={"kind": "partner"},
    )
    notes = models.TextField(blank=True)
    # the audit log: who changed what, when, and why (64-bit ids: bulk sweeps pass 2**31 rows)
    history = HistoricalRecords(history_id_field=models.BigAutoField(primary_key=True))

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Sku(models.Model):
    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    voice = models.BooleanField("Voice", default=True)
    sms = models.BooleanField("SMS", default=False)
    fax = models.BooleanField("Fax", default=False)
    history = HistoricalRecords(history_id_field=models.BigAutoField(primary_key=True))

    class Meta:
        ordering = ["code"]
        verbose_name = "SKU"
        verbose_name_plural = "SKUs"

    def __str__(self) -> str:
        return self.code


# An available number offered to a partner: the partner scope's second part.
OFFERED = Q(state="available", visible_to__isnull=False)


class PhoneNumber(models.Model):
    e164 = models.CharField("number", max_length=16, unique=True)
    country = models.CharField(max_length=2, help_text="ISO 3166 alpha-2")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="numbers")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="numbers", verbose_name="SKU")
    voice = models.BooleanField("Voice", default=True)
    sms = models.BooleanField("SMS", default=False)
    fax = models.BooleanField("Fax", default=False)
    routing = models.CharField(max_length=100, blank=True)
    is_golden = models.BooleanField("golden", default=False)
    is_ported_in = models.BooleanField("ported in", default=False)
    visible_to = models.ForeignKey(
        "subscriptions.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visible_numbers",
        db_index=False,  # number_visible_to: offered numbers only
        limit_choices_to={"kind": "partner"},
        help_text="A partner that may see this number while it is available.",
    )
    state = models.CharField(
        max_length=16, choices=NumberState.choices, default=NumberState.AVAILABLE, editable=False
    )
    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="End of the reservation, lock or cooling."
    )
    organization = models.ForeignKey(
        "subscriptions.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="numbers",
        editable=False,
        # number_holder_e164 and number_holder_state_end lead with it: a third index would
        # only cost every write.
        db_index=False,
    )
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="numbers",
        editable=False,
        db_index=False,  # number_subscription: held numbers only
    )
    reserved_for = models.CharField(max_length=150, blank=True, editable=False)
    tags = models.CharField(
        max_length=500, blank=True, help_text="Stored as ;tag;tag; so that one tag is one match."
    )
    notes = models.TextField(blank=True)
    delete_reason = models.CharField(
        max_length=32, choices=DeleteReason.choices, blank=True, editable=False
    )
    after_cooling_state = models.CharField(
        max_length=16, choices=NumberState.choices, blank=True, editable=False
    )
    after_hold_state = models.CharField(
        "after hold", max_length=16, choices=AfterHoldState.choices,
        default=AfterHoldState.RESERVED,
        help_text="Where the number goes when a hold (its subscription suspended) runs out.",
    )
    hold_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days a hold lasts; empty = the hold policy's."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The history table is written on every change: index only what its readers use
    # (a number's timeline by id, recent changes by date, changes by user).
    history = HistoricalRecords(
        history_id_field=models.BigAutoField(primary_key=True),
        excluded_fields=["updated_at"],
        no_db_index=["e164", "country", "routing", "reserved_for", "vendor", "sku", "visible_to",
                     "organization", "subscription"],
        history_change_reason_field=models.TextField(null=True),
    )

    class Meta:
        ordering = ["e164"]
        verbose_name = "number"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=NumberState.values), name="phonenumber_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(e164__regex=r"^\+[1-9][0-9]{6,14}$"), name="phonenumber_e164_format"
            ),
            models.CheckConstraint(
                condition=~Q(state="assigned") | Q(subscription__isnull=False),
                name="phonenumber_assigned_has_subscription",
            ),
        ]
        indexes = [
            # Partial indexes (migration 0020): a row outside the condition costs its writes no
            # entry, and a free number (an import's, a sweep's) is outside most of them.
            models.Index(fields=["state", "expires_at"], condition=Q(expires_at__isnull=False),
                         name="number_state_end"),
            # Plain btrees (no *_like twins): these are matched exactly.
            models.Index(fields=["country"], name="number_country"),
            models.Index(fields=["routing"], name="number_routing"),
            models.Index(fields=["reserved_for"], condition=~Q(reserved_for=""), name="number_kept_for"),
            models.Index(fields=["subscription"], condition=Q(subscription__isnull=False),
                         name="number_subscription"),
            models.Index(fields=["visible_to"], condition=Q(visible_to__isnull=False),
                         name="number_visible_to"),
            # Golden and ported-in numbers are few: partial indexes keep them cheap to find.
            # Golden numbers carry what the partner scope asks (migration 0018): a golden filter
            # there is an index-only scan of the few golden entries, not a read of their rows.
            models.Index(fields=["id"],
                         include=["e164", "organization", "visible_to", "state", "is_ported_in"],
                         condition=Q(is_golden=True), name="number_golden_scope"),
            models.Index(fields=["id"], condition=Q(is_ported_in=True), name="number_ported_in"),
            models.Index(fields=["id"], condition=Q(sms=True), name="number_sms"),
            models.Index(fields=["id"], condition=Q(fax=True), name="number_fax"),
            # number_next_available's walk: only the free, non-golden, unheld numbers, in id
            # order, so parallel allocators never wade through the rows already taken.
            models.Index(fields=["id"], condition=Q(state="available", is_golden=False, reserved_for=""),
                         name="number_allocatable"),
            # The admin's state tabs: a tab's page (state = …, ORDER BY e164) is one range.
            models.Index(fields=["state", "e164"], name="number_state_e164"),
            # The partner dashboard's scope, one index per part (partners/selectors.py): each
            # walks its part in number order and answers the summary's counts index-only.
            models.Index(fields=["organization", "e164"], include=["state", "expires_at"],
                         condition=Q(organization__isnull=False), name="number_holder_e164"),
            models.Index(fields=["visible_to", "e164"], include=["organization", "expires_at"],
                         condition=OFFERED, name="number_offers_e164"),
            models.Index(F("visible_to"), F("state_changed_at").asc(nulls_first=True), F("created_at"),
                         F("id"), condition=OFFERED, name="number_offers_waiting"),
            # The partner summary and filters per holder (migration 0018): counts by holder and
            # state, ends per day, the next ends; held numbers only (free ones have no holder).
            models.Index(fields=["organization", "state", "expires_at"],
                         condition=Q(organization__isnull=False), name="number_holder_state_end"),
        ]
        permissions = list(NUMBER_PERMISSIONS)  # one table, in choices.py

    def __str__(self) -> str:
        return self.e164

    @property
    def routing_reachable(self) -> bool:
        """A held number keeps its routing, but calls to it do not get through (JeraSoft:
        "a routing destination will be unreachable"); exports and the API say so."""
        return self.state != NumberState.HOLD

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(";") if t]

    @staticmethod
    def tags_to_field(tags: list[str] | str) -> str:
        if isinstance(tags, str):
            tags = tags.replace(",", ";").split(";")
        cleaned = sorted({t.strip() for t in tags if t and t.strip()})
        return f";{';'.join(cleaned)};" if cleaned else ""


class Reservation(models.Model):
    """One row per reservation or lock, kept forever: the number's tenancy record."""

    number = models.ForeignKey(PhoneNumber, on_delete=models.CASCADE, related_name="reservations")
    kind = models.CharField(max_length=32, choices=ReservationKind.choices)
    organization = models.ForeignKey(
        "subscriptions.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reservations",
    )
    reserver_name = models.CharField(max_length=200, blank=True)
    notice_email = models.EmailField(blank=True)
    reserved_for = models.CharField(max_length=150, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty = permanent.")
    closed_at = models.DateTimeField(null=True, blank=True)
    did_reservation = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charged_reservations",
        db_index=False,  # reservation_did_status leads with it
    )
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.ACTIVE
    )
    remark = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(status="active"),
                name="one_active_reservation_per_number",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReservationStatus.values), name="reservation_status_valid"
            ),
        ]
        indexes = [
            # Partial (migration 0020): a closed reservation, the most of them, is in neither,
            # so closing one (a sweep closes them by the million) writes fewer index entries.
            models.Index(fields=["ends_at"], condition=Q(status="active"), name="reservation_active_end"),
            models.Index(fields=["did_reservation", "status"], condition=Q(did_reservation__isnull=False),
                         name="reservation_charged_status"),
        ]

    def __str__(self) -> str:
        holder = self.reserver_name or "no organization"
        return f"{self.get_kind_display()} · {holder} · {self.get_status_display().lower()}"


class LifecyclePolicy(models.Model):
    """How long each cause holds a number. The most specific matching row wins."""

    cause = models.CharField(max_length=32, choices=PolicyCause.choices)
    country = models.CharField(max_length=2, blank=True, help_text="Empty = any country.")
    sku = models.ForeignKey(
        Sku, null=True, blank=True, on_delete=models.CASCADE, help_text="Empty = any SKU.", verbose_name="SKU"
    )
    is_ported_in = models.BooleanField("ported in", null=True, blank=True, help_text="Empty = either.")
    period_days = models.PositiveIntegerField(help_text="0 = off (cooling) or immediate.")
    notes = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords(history_id_field=models.BigAutoField(primary_key=True))

    class Meta:
        ordering = ["cause", "country", "sku"]
        verbose_name = "life-cycle policy"
        verbose_name_plural = "life-cycle policies"
        constraints = [
            models.UniqueConstraint(
                fields=["cause", "country", "sku", "is_ported_in"],
                name="policy_unique_match",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        scope = " ".join(
            filter(
                None,
                [
                    self.country,
                    self.sku.code if self.sku else "",
                    {True: "ported-in", False: "not ported-in", None: ""}[self.is_ported_in],
                ],
            )
        )
        return f"{self.get_cause_display()}: {self.period_days} days{f' ({scope})' if scope else ''}"

    @property
    def specificity(self) -> int:
        return bool(self.country) + bool(self.sku_id) + (self.is_ported_in is not None)

    def matches(self, number: PhoneNumber) -> bool:
        return (
            (not self.country or self.country == number.country)
            and (not self.sku_id or self.sku_id == number.sku_id)
            and (self.is_ported_in is None or self.is_ported_in == number.is_ported_in)
        )


class ImportJob(models.Model):
    """One upload: its preview, its progress when it runs in the background, its errors."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    country = models.CharField(max_length=2, blank=True)
    all_or_nothing = models.BooleanField(default=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=ImportJobStatus.choices, default=ImportJobStatus.PENDING
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    error_file = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The import runs after its preview, when someone confirms it; history names that person.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A running job's lease: the worker renews it with each progress write; once it has run
    # out the worker is taken for dead (killed, out of memory, restarted) and beat's
    # import_jobs_recover_task runs the step again or fails the job (services.import_jobs).
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    worker = models.CharField(max_length=200, blank=True, editable=False,
                              help_text="host:pid:run of the worker that holds (or last held) the job.")
    attempts = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="Runs started of the current step (preview, then import).")
    files_purged_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When the uploaded file and its error report were deleted (retention).")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_status_display()})"

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == ImportJobStatus.DONE else 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))


class ImportMapping(models.Model):
    """The column mapping last confirmed for one set of file headers (JeraSoft's "specify
    columns names"): the next file with the same headers is read the same way, with no
    mapping step. `mapping`: {"columns": {header: field or "" (ignore)}, "vendor", "sku",
    "country": the defaults standing in for absent columns}."""

    header_signature = models.CharField(max_length=64, unique=True)
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return ", ".join(f"{header} → {field or 'ignore'}"
                         for header, field in self.mapping.get("columns", {}).items())
