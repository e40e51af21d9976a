"""Request and response shapes. Output serializers only read; input serializers only check
shape and resolve uuids and numbers, and the services decide everything else."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from inventory.choices import DeleteReason, NumberState
from inventory.models import ImportJob, Reservation
from inventory.numbers import NumberError, check_e164
from subscriptions.choices import OrganizationKind, SubscriptionKind, SubscriptionStatus
from subscriptions.models import Organization, Subscription

MAX_BULK = 10_000
MAX_NEXT = 100
PARTNER_HIDDEN = ("routing", "notes", "vendor")  # ops-only, as on the partner dashboard
RO: dict[str, Any] = {"read_only": True}


# --- output --------------------------------------------------------------------------------

class ReservationOut(serializers.Serializer):
    kind = serializers.CharField(**RO)
    status = serializers.CharField(**RO)
    organization = serializers.UUIDField(source="organization.uuid", allow_null=True, **RO)
    starts_at = serializers.DateTimeField(**RO)
    ends_at = serializers.DateTimeField(allow_null=True, **RO)
    did_reservation = serializers.UUIDField(source="did_reservation.uuid", allow_null=True, **RO)
    reserved_for = serializers.CharField(**RO)


class NumberOut(serializers.Serializer):
    """A number; partner keys do not see vendor, routing and notes. `?fields=` trims it."""

    e164 = serializers.CharField(**RO)
    country = serializers.CharField(**RO)
    state = serializers.ChoiceField(choices=NumberState.choices, **RO)
    state_changed_at = serializers.DateTimeField(allow_null=True, **RO)
    expires_at = serializers.DateTimeField(allow_null=True, **RO)
    vendor = serializers.CharField(source="vendor.name", **RO)
    sku = serializers.CharField(source="sku.code", **RO)
    voice = serializers.BooleanField(**RO)
    sms = serializers.BooleanField(**RO)
    fax = serializers.BooleanField(**RO)
    routing = serializers.CharField(**RO)
    is_golden = serializers.BooleanField(**RO)
    is_ported_in = serializers.BooleanField(**RO)
    visible_to = serializers.UUIDField(source="visible_to.uuid", allow_null=True, **RO)
    organization = serializers.UUIDField(source="organization.uuid", allow_null=True, **RO)
    subscription = serializers.UUIDField(source="subscription.uuid", allow_null=True, **RO)
    reserved_for = serializers.CharField(**RO)
    tags = serializers.ListField(child=serializers.CharField(), source="tag_list", **RO)
    notes = serializers.CharField(**RO)
    delete_reason = serializers.CharField(**RO)
    updated_at = serializers.DateTimeField(**RO)

    def __init__(self, *args, fields: list[str] | None = None, partner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        drop = set(PARTNER_HIDDEN) if partner else set()
        if fields:
            drop |= set(self.fields) - set(fields)
        for name in drop:
            self.fields.pop(name, None)


class NumberDetailOut(NumberOut):
    reservation = ReservationOut(allow_null=True, help_text="The current reservation or lock", **RO)


class NumberPage(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last")
    results = NumberOut(many=True)


class BulkResult(serializers.Serializer):
    done = serializers.ListField(child=serializers.CharField(), help_text="Numbers changed")
    unchanged = serializers.ListField(child=serializers.CharField(), help_text="Already so")
    refused = serializers.DictField(child=serializers.CharField(), help_text="number → reason")


class NextAvailableResult(serializers.Serializer):
    numbers = NumberOut(many=True)


class OrganizationOut(serializers.ModelSerializer):
    parent = serializers.UUIDField(source="parent.uuid", allow_null=True, **RO)
    # Blank when not set: plain strings in the answer (format "email" would refuse "").
    billing_email = serializers.CharField(**RO)
    owner_email = serializers.CharField(**RO)
    support_email = serializers.CharField(**RO)

    class Meta:
        model = Organization
        fields = ["uuid", "name", "kind", "parent", "billing_email", "owner_email", "support_email",
                  "domain", "created_at"]
        read_only_fields = fields


class SubscriptionOut(serializers.ModelSerializer):
    organization = serializers.UUIDField(source="organization.uuid", **RO)

    class Meta:
        model = Subscription
        fields = ["uuid", "organization", "kind", "plan", "status", "current_period_end",
                  "number_allowance", "subscriber", "created_at"]
        read_only_fields = fields


class SubscriptionChangeResult(serializers.Serializer):
    subscription = SubscriptionOut()
    moved = serializers.ListField(child=serializers.CharField(), help_text="Numbers that moved")


class ImportJobOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", **RO)
    progress = serializers.IntegerField(source="progress_percent", **RO)
    counts = serializers.SerializerMethodField()
    phase = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = ["id", "original_name", "status", "phase", "all_or_nothing", "country",
                  "total_rows", "processed_rows", "progress", "counts", "message", "created_at",
                  "confirmed_at", "finished_at"]
        read_only_fields = fields

    def get_counts(self, job: ImportJob) -> dict[str, int]:
        return {"new": job.created_count, "changed": job.updated_count,
                "unchanged": job.unchanged_count, "refused": job.rejected_count}

    def get_phase(self, job: ImportJob) -> str:
        return "import" if job.confirmed_at else "preview"


class SummaryOut(serializers.Serializer):
    by_state = serializers.DictField(child=serializers.IntegerField())
    by_vendor = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()),
                                      required=False, help_text="vendor → state → count (ops keys)")
    by_country = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))


# --- input ---------------------------------------------------------------------------------

class E164Field(serializers.CharField):
    """A well-formed, valid E.164 number (`+6560000000`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(r"^\+[1-9][0-9]{6,14}$", "Not in E.164 form."))

    def to_internal_value(self, data):
        value = super().to_internal_value(data).strip()
        try:
            check_e164(value)
        except NumberError as exc:
            raise serializers.ValidationError(f"{value!r}: {exc}") from None
        return value


class UuidRef(serializers.SlugRelatedField):
    """An organization or subscription named by uuid; an unknown one is a field error."""

    default_error_messages = {
        "does_not_exist": "No {slug_name} {value} (or not one this key may use).",
        "invalid": "Not a uuid.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="uuid", **kwargs)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except (ValueError, TypeError):
            self.fail("invalid")
        except Exception as exc:  # Django's ValidationError for a malformed uuid
            if isinstance(exc, serializers.ValidationError):
                raise
            self.fail("invalid")


class RemarkMixin(serializers.Serializer):
    remark = serializers.CharField(max_length=2000, help_text="Why; kept in the history")


class NumberPatch(serializers.Serializer):
    """Descriptive fields only; the state and the holder change through the actions."""

    remark = serializers.CharField(max_length=2000)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                 max_length=50)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    sku = serializers.CharField(required=False, max_length=64, help_text="SKU code")
    vendor = serializers.CharField(required=False, max_length=200, help_text="Vendor name")
    routing = serializers.CharField(required=False, allow_blank=True, max_length=100)
    voice = serializers.BooleanField(required=False)
    sms = serializers.BooleanField(required=False)
    fax = serializers.BooleanField(required=False)
    is_golden = serializers.BooleanField(required=False)
    is_ported_in = serializers.BooleanField(required=False)
    visible_to = serializers.UUIDField(required=False, allow_null=True, help_text="A partner uuid")

    def validate(self, attrs):
        unknown = sorted(set(getattr(self, "initial_data", {})) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({f: ["Not editable here: the state and the holder change "
                                                   "only through the actions."] for f in unknown})
        if len(attrs) < 2:
            raise serializers.ValidationError("Give at least one field to change besides the remark.")
        return attrs


class NumberAdd(serializers.Serializer):
    numbers = serializers.JSONField(help_text='A spec ("+6560000000-+6560000099, +6560000200") '
                                              "or a list of numbers and ranges")
    vendor = serializers.CharField(max_length=200, help_text="Vendor name")
    sku = serializers.CharField(max_length=64, help_text="SKU code")
    country = serializers.CharField(required=False, max_length=2, allow_blank=True)
    state = serializers.ChoiceField(choices=[NumberState.AVAILABLE, NumberState.LOCKED],
                                    required=False)
    remark = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    voice = serializers.BooleanField(required=False)
    sms = serializers.BooleanField(required=False)
    fax = serializers.BooleanField(required=False)
    routing = serializers.CharField(required=False, allow_blank=True, max_length=100)
    is_golden = serializers.BooleanField(required=False)
    is_ported_in = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                 max_length=50)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000)

    def validate_numbers(self, value):
        if isinstance(value, str) and value.strip():
            return value
        if (isinstance(value, list) and value and len(value) <= MAX_BULK
                and all(isinstance(v, str) and v.strip() for v in value)):
            return value
        raise serializers.ValidationError(
            f"A non-empty spec string, or a list of 1 to {MAX_BULK:,} numbers and ranges.")


class BulkAction(RemarkMixin):
    """The body of /numbers/actions/{action}/; which extra fields are required depends on it."""

    numbers = serializers.ListField(child=E164Field(), min_length=1, max_length=MAX_BULK)
    organization = UuidRef(queryset=Organization.objects.all(), required=False,
                           help_text="reserve: the reserving organization")
    subscription = UuidRef(queryset=Subscription.objects.all(), required=False,
                           help_text="assign: an active service subscription")
    did_reservation = UuidRef(queryset=Subscription.objects.all(), required=False,
                              help_text="extend: an active DID reservation subscription")
    reason = serializers.ChoiceField(choices=DeleteReason.choices, required=False,
                                     help_text="delete: why")
    reserved_for = serializers.CharField(required=False, allow_blank=True, max_length=150,
                                         help_text='reserve, set-reserved-for ("" clears)')

    NEEDS = {"reserve": ["organization"], "assign": ["subscription"], "extend": ["did_reservation"],
             "delete": ["reason"], "set-reserved-for": ["reserved_for"]}

    def validate(self, attrs):
        action = self.context["action"]
        missing = {f: ["This field is required for " + action + "."]
                   for f in self.NEEDS.get(action, []) if f not in attrs}
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class NextAvailable(RemarkMixin):
    subscription = UuidRef(queryset=Subscription.objects.all(),
                           help_text="An active service subscription")
    count = serializers.IntegerField(min_value=1, max_value=MAX_NEXT, default=1)
    pattern = serializers.CharField(required=False, max_length=20, help_text="+65*, *1234, +656 …")
    country = serializers.CharField(required=False, max_length=2)
    sku = serializers.CharField(required=False, max_length=64, help_text="SKU code")
    vendor = serializers.CharField(required=False, max_length=200, help_text="Vendor name")


class OrganizationIn(serializers.ModelSerializer):
    parent = UuidRef(queryset=Organization.objects.filter(kind=OrganizationKind.PARTNER),
                     required=False, allow_null=True, help_text="A customer's partner (uuid)")

    class Meta:
        model = Organization
        fields = ["name", "kind", "parent", "billing_email", "owner_email", "support_email", "domain"]

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        if kind == OrganizationKind.PARTNER and attrs.get("parent"):
            raise serializers.ValidationError({"parent": ["A partner has no parent."]})
        return attrs


class OrganizationPatch(OrganizationIn):
    class Meta(OrganizationIn.Meta):
        fields = ["name", "billing_email", "owner_email", "support_email", "domain"]
        extra_kwargs = {f: {"required": False} for f in fields}


class SubscriptionIn(serializers.ModelSerializer):
    organization = UuidRef(queryset=Organization.objects.filter(kind=OrganizationKind.CUSTOMER),
                           help_text="The customer (uuid)")

    class Meta:
        model = Subscription
        fields = ["organization", "kind", "plan", "current_period_end", "number_allowance", "subscriber"]


class SubscriptionStatusIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices)


class SubscriptionRenewIn(serializers.Serializer):
    current_period_end = serializers.DateTimeField()


class SubscriptionSwapIn(RemarkMixin):
    old = E164Field(help_text="The assigned number to swap out")
    new = E164Field(help_text="Its replacement")


class ImportIn(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, XLSX or XLS with a header row")
    dry_run = serializers.BooleanField(default=False, help_text="Preview only; confirm later")
    valid_only = serializers.BooleanField(default=False,
                                          help_text="Import the valid rows (default: all or nothing)")
    country = serializers.CharField(required=False, allow_blank=True, max_length=2,
                                    help_text="Default country for national numbers")


class ImportConfirmIn(serializers.Serializer):
    valid_only = serializers.BooleanField(default=False)


class ProblemOut(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="field → messages")


_ = (SubscriptionKind, Reservation)
