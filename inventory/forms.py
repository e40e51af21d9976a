"""Forms of the ops admin: the intermediate forms of the number actions, mass edit, add numbers.

Forms only turn what ops typed into objects (a uuid into an organization, a domain into a
partner) and say clearly when that fails. Whether a move is allowed is decided by the
services; their refusals are shown as they come.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet

from subscriptions.choices import OrganizationKind, SubscriptionKind, SubscriptionStatus
from subscriptions.models import Organization, Subscription
from subscriptions.selectors import partner_find

from .choices import CAPABILITIES, Action, AfterHoldState, DeleteReason, NumberState, action_permission
from .models import PhoneNumber, Reservation, Sku, Vendor
from .services import EDITABLE_ATTRS


class PickWidget(AutocompleteSelect):
    """The admin's autocomplete; a value posted as a uuid (or mistyped) is shown again as
    the record it names (or as nothing) instead of breaking the page."""

    def optgroups(self, name: str, value: Any, attr: Any = None) -> Any:
        model = self.field.remote_field.model
        keys: list[str] = []
        for item in value:
            text = str(item or "").strip()
            if text.isdigit():
                keys.append(text)
                continue
            try:
                key = uuid.UUID(text)
            except ValueError:
                continue
            keys += [str(pk) for pk in model.objects.filter(uuid=key).values_list("pk", flat=True)]
        return super().optgroups(name, keys, attr)


def picker(model: type[Model], field_name: str) -> AutocompleteSelect:
    """Django's admin autocomplete for a foreign key of `model`: ops type a name, a domain or a
    uuid (the target admin's search_fields) instead of pasting a uuid."""
    return PickWidget(model._meta.get_field(field_name), admin.site,
                              attrs={"data-placeholder": "Type a name, domain or uuid",
                                     "style": "width: 28em"})


class PickField(forms.ModelChoiceField):
    """A record picked by the autocomplete (its id) or pasted as its uuid."""

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()
        rows: Any = self.queryset
        if text.startswith("+") and rows.model is PhoneNumber:
            number = rows.filter(e164=text).first()
            if number is None:
                raise ValidationError(f"No number {text} in the inventory.")
            return number
        if text and not text.isdigit():
            try:
                key = uuid.UUID(text)
            except ValueError:
                raise ValidationError(f"“{text}” is neither a choice of the list nor a uuid; type a "
                                      "name, domain or uuid and pick from the list.") from None
            found = rows.filter(uuid=key).first()
            if found is None:
                label = rows.model._meta.verbose_name
                raise ValidationError(f"No {label} with the uuid {key} can be chosen here.")
            return found
        return super().to_python(text)


def organization_field(label: str = "Organization", required: bool = True,
                       **kwargs: Any) -> forms.ModelChoiceField:
    return PickField(Organization.objects.all(), label=label, required=required,
                                  widget=picker(PhoneNumber, "organization"), **kwargs)


class PartnerPickField(PickField):
    """A partner picked by name, or pasted as its uuid or domain."""

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()
        if text and not text.isdigit():
            partner = partner_find(text)
            if partner is not None:
                return partner
            other = Organization.objects.filter(domain__iexact=text).first() if "." in text else None
            if other is None:
                try:
                    other = Organization.objects.filter(uuid=uuid.UUID(text)).first()
                except ValueError:
                    other = None
            if other is not None:
                raise ValidationError(f"{other.name} is a customer; only a partner can be chosen here.")
        return super().to_python(text)


def partner_field(label: str = "Visible to (partner)") -> forms.ModelChoiceField:
    return PartnerPickField(Organization.objects.filter(kind=OrganizationKind.PARTNER),
                                  label=label, required=False, widget=picker(PhoneNumber, "visible_to"),
                                  help_text="A partner that may see the numbers while available.")


def remark_field(required: bool = True,
                 help_text: str = "Why: kept in the number's history.") -> forms.CharField:
    return forms.CharField(
        required=required, max_length=2000, help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class ActionForm(forms.Form):
    """Base of the intermediate forms: a remark, and a hook to place service errors."""

    remark = remark_field()
    service_error_field: str | None = None  # where a ServiceError about the argument belongs

    def __init__(self, *args: Any, numbers: QuerySet | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.numbers = numbers  # the selected numbers, for forms that offer choices from them

    def service_kwargs(self) -> dict[str, Any]:
        return {"remark": self.cleaned_data["remark"]}

    def add_service_error(self, message: str) -> None:
        self.add_error(self.service_error_field, message)


class ReserveForm(ActionForm):
    organization = organization_field(help_text="Type its name, domain or uuid.")
    reserved_for = forms.CharField(
        required=False, max_length=150,
        help_text="Optional: the subscriber username the numbers are held for.",
    )
    field_order = ["organization", "reserved_for", "remark"]
    service_error_field = "organization"

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "organization": self.cleaned_data["organization"],
                "reserved_for": self.cleaned_data["reserved_for"]}


class AssignForm(ActionForm):
    subscription = PickField(
        Subscription.objects.all(), label="Service subscription",
        widget=picker(PhoneNumber, "subscription"),
        help_text="Type the organization's name, the package or the uuid.",
    )
    field_order = ["subscription", "remark"]
    service_error_field = "subscription"

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "subscription": self.cleaned_data["subscription"]}


class ExtendForm(ActionForm):
    """The holders' active DID reservations are offered as a list; the autocomplete finds
    any other one."""

    did_reservation = PickField(
        Subscription.objects.all(),
        label="DID reservation subscription", widget=picker(Reservation, "did_reservation"),
        help_text="Type the organization's name, the package or the uuid.",
    )
    remark = remark_field(required=False, help_text="Optional; kept in the number's history.")
    field_order = ["did_reservation", "remark"]
    service_error_field = "did_reservation"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.numbers is None:
            return
        holders = self.numbers.order_by().values("organization_id").distinct()[:50]
        offered = list(Subscription.objects.filter(
            organization_id__in=holders, kind=SubscriptionKind.DID_RESERVATION,
            status=SubscriptionStatus.ACTIVE,
        ).select_related("organization").order_by("organization__name", "current_period_end")[:50])
        if offered:
            field = self.fields["did_reservation"]
            field.widget = forms.RadioSelect(choices=[(s.pk, s) for s in offered])
            field.help_text = "The active DID reservations of the numbers' holders."
            if len(offered) == 1:
                field.initial = offered[0].pk

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "did_reservation": self.cleaned_data["did_reservation"]}


class SwapForm(ActionForm):
    new = PickField(PhoneNumber.objects.all(), label="Replacement number",
                    widget=picker(Reservation, "number"),
                    help_text="Type the start of the number (+65…) and pick it.")
    field_order = ["new", "remark"]
    service_error_field = "new"

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "new": self.cleaned_data["new"]}


class ReservedForForm(ActionForm):
    reserved_for = forms.CharField(
        required=False, max_length=150, label="Reserved for (subscriber username)",
        help_text="Leave empty to clear. While set, only that subscriber's subscription may take "
                  "the number.",
    )
    field_order = ["reserved_for", "remark"]
    service_error_field = "reserved_for"

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "reserved_for": self.cleaned_data["reserved_for"]}


class RemarkForm(ActionForm):
    """Release, lock, unlock and recover need only a remark."""


class DeleteForm(ActionForm):
    reason = forms.ChoiceField(choices=[("", "—")] + DeleteReason.choices)
    field_order = ["reason", "remark"]
    service_error_field = "reason"

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "reason": self.cleaned_data["reason"]}


KEEP = [("", "— keep —"), ("yes", "Yes"), ("no", "No")]
BOOL_FIELDS = {"voice": "Voice", "sms": "SMS", "fax": "Fax", "is_golden": "Golden",
               "is_ported_in": "Ported in"}


class MassEditForm(ActionForm):
    """Blank means "keep"; only what is filled in (or ticked to clear) changes."""

    vendor = forms.ModelChoiceField(Vendor.objects.all(), required=False, empty_label="— keep —")
    sku = forms.ModelChoiceField(Sku.objects.all(), required=False, empty_label="— keep —",
                                 label="SKU")
    routing = forms.CharField(required=False, max_length=100)
    clear_routing = forms.BooleanField(required=False)
    visible_to = partner_field()
    clear_visible_to = forms.BooleanField(required=False, label="Clear visible to")
    add_tags = forms.CharField(required=False, help_text="Comma-separated.")
    remove_tags = forms.CharField(required=False, help_text="Comma-separated.")
    clear_tags = forms.BooleanField(required=False, help_text="Remove every tag (then add the above).")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
                            help_text="Replaces the notes.")
    clear_notes = forms.BooleanField(required=False)
    after_hold_state = forms.ChoiceField(choices=[("", "— keep —"), *AfterHoldState.choices],
                                         required=False, label="After hold",
                                         help_text="Where the number goes when a hold runs out.")
    hold_days = forms.IntegerField(required=False, min_value=0, label="Hold days",
                                   help_text="Days a hold lasts for these numbers.")
    clear_hold_days = forms.BooleanField(required=False, label="Clear hold days",
                                         help_text="Back to the hold policy's days.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in BOOL_FIELDS.items():
            self.fields[name] = forms.ChoiceField(choices=KEEP, required=False, label=label)
        self.order_fields(["vendor", "sku", "routing", "clear_routing", *BOOL_FIELDS, "visible_to",
                           "clear_visible_to", "add_tags", "remove_tags", "clear_tags", "notes",
                           "clear_notes", "after_hold_state", "hold_days", "clear_hold_days",
                           "remark"])

    def clean(self):
        data = super().clean()
        changes: dict[str, Any] = {}
        for name in ("vendor", "sku"):
            if data.get(name):
                changes[name] = data[name]
        for name in BOOL_FIELDS:
            if data.get(name):
                changes[name] = data[name] == "yes"
        for name in ("routing", "notes", "visible_to"):
            if data.get(f"clear_{name}"):
                changes[name] = None if name == "visible_to" else ""
            elif data.get(name):
                changes[name] = data[name]
        if data.get("clear_tags"):
            changes["tags"] = data.get("add_tags", "")
        elif data.get("add_tags"):
            changes["add_tags"] = data["add_tags"]
        if data.get("remove_tags"):
            changes["remove_tags"] = data["remove_tags"]
        if data.get("after_hold_state"):
            changes["after_hold_state"] = data["after_hold_state"]
        if data.get("clear_hold_days"):
            changes["hold_days"] = None
        elif data.get("hold_days") is not None:
            changes["hold_days"] = data["hold_days"]
        if not changes and not self.errors:
            raise ValidationError("Choose at least one change.")
        self.changes = changes
        return data

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "changes": self.changes}


class AddNumbersForm(forms.Form):
    numbers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60,
                                     "placeholder": "+6560000001, +6560000002\n+6560001000-+6560001999"}),
        help_text="",
    )
    country = forms.CharField(
        max_length=2, required=False,
        help_text="For numbers written without +country code (ISO code, e.g. SG).",
    )
    vendor = forms.ModelChoiceField(Vendor.objects.all())
    sku = forms.ModelChoiceField(Sku.objects.all(), label="SKU")
    capabilities = forms.MultipleChoiceField(
        choices=[(c, c.upper() if c == "sms" else c.capitalize()) for c in CAPABILITIES],
        required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: the SKU's defaults.",
    )
    is_golden = forms.BooleanField(required=False, label="Golden")
    is_ported_in = forms.BooleanField(required=False, label="Ported in")
    visible_to = partner_field()
    tags = forms.CharField(required=False, help_text="Comma-separated.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    after_hold_state = forms.ChoiceField(choices=AfterHoldState.choices, initial=AfterHoldState.RESERVED,
                                         required=False, label="After hold",
                                         help_text="Where a number goes when a hold runs out.")
    hold_days = forms.IntegerField(required=False, min_value=0, label="Hold days",
                                   help_text="Empty: the hold policy's days.")
    state = forms.ChoiceField(
        label="Initial state",
        choices=[(NumberState.AVAILABLE, "Available"), (NumberState.LOCKED, "Locked")],
        initial=NumberState.AVAILABLE,
    )
    remark = forms.CharField(required=False, max_length=2000,
                             help_text="Kept in the history; required when adding locked numbers.")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        limits = settings.NUMBERMGMT
        self.max_items = limits["FORM_MAX_NUMBERS"]
        self.max_range = limits["FORM_MAX_RANGE"]
        self.fields["numbers"].help_text = (
            f"Up to {self.max_items} entries separated by commas or new lines; an entry may be an "
            f"inclusive range like +6560000000-+6560000999 (at most {self.max_range:,} numbers in all)."
        )
        self.fields["country"].initial = limits.get("DEFAULT_COUNTRY", "")

    def clean(self):
        """Adding numbers locked is a lock: the same permission and a remark, as the action."""
        data = super().clean()
        if data.get("state") == NumberState.LOCKED:
            if self.user is not None and not self.user.has_perm(action_permission(Action.LOCK)):
                self.add_error("state", "Adding numbers locked needs the lock permission.")
            if not (data.get("remark") or "").strip():
                self.add_error("remark", "Say why the numbers are locked: the remark is kept "
                                         "in their history.")
        return data

    def clean_country(self) -> str:
        country = self.cleaned_data["country"].strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise ValidationError("Two letters, e.g. SG.")
        return country

    def number_attrs(self) -> dict[str, Any]:
        data = self.cleaned_data
        attrs: dict[str, Any] = {"is_golden": data["is_golden"], "is_ported_in": data["is_ported_in"],
                                 "tags": data["tags"], "notes": data["notes"].strip(),
                                 "visible_to": data["visible_to"],
                                 "after_hold_state": data["after_hold_state"] or AfterHoldState.RESERVED,
                                 "hold_days": data["hold_days"]}
        if data["capabilities"]:
            attrs.update({c: c in data["capabilities"] for c in CAPABILITIES})
        return attrs


class PhoneNumberChangeForm(forms.ModelForm):
    """One number's descriptive fields; saved through number_update_attributes with a remark."""

    tags = forms.CharField(required=False, help_text="Comma-separated.")
    remark = remark_field(required=False, help_text="Why (kept in the history); required to save a change.")

    class Meta:
        model = PhoneNumber
        fields = ["vendor", "sku", "voice", "sms", "fax", "routing", "is_golden", "is_ported_in",
                  "visible_to", "tags", "notes", "after_hold_state", "hold_days"]
        labels = {"sku": "SKU", "sms": "SMS", "voice": "Voice", "fax": "Fax", "is_golden": "Golden",
                  "is_ported_in": "Ported in", "visible_to": "Visible to (partner)",
                  "after_hold_state": "After hold", "hold_days": "Hold days"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(self.instance.tag_list)

    def clean_tags(self) -> str:
        return PhoneNumber.tags_to_field(self.cleaned_data["tags"] or "")

    def clean(self):
        data = super().clean()
        if self.instance.pk and self.attribute_changes() and not (data.get("remark") or "").strip():
            message = "Say why: the remark is kept in the number's history."
            self.add_error("remark", message)
            self.add_error(None, f"Remark (under Tags and notes): {message}")  # shown at the top
        return data

    def attribute_changes(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.changed_data
                if name in EDITABLE_ATTRS and name in self.cleaned_data}
