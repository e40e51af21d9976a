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
from django.core.exceptions import ValidationError

from subscriptions.models import Organization, Subscription
from subscriptions.selectors import partner_find

from .choices import CAPABILITIES, Action, DeleteReason, NumberState, action_permission
from .models import PhoneNumber, Sku, Vendor
from .services import EDITABLE_ATTRS

UUID_HELP = "The uuid shown on its admin page, e.g. 1b4e28ba-2fa1-41d2-883f-0016d3cca427."


def lookup_by_uuid(model, value: str, label: str):
    """The object with this uuid, or a ValidationError that says what was wrong with it."""
    text = (value or "").strip()
    try:
        key = uuid.UUID(text)
    except ValueError:
        raise ValidationError(f"“{text}” is not a uuid. {UUID_HELP}") from None
    found = model.objects.filter(uuid=key).first()
    if found is None:
        raise ValidationError(f"No {label} has the uuid {key}.")
    return found


def lookup_partner(value: str) -> Organization:
    """A partner named by uuid or by domain (subscriptions.selectors.partner_find), or a
    ValidationError that says what was wrong with the value."""
    text = (value or "").strip()
    partner = partner_find(text)
    if partner is not None:
        return partner
    try:
        uuid.UUID(text)
    except ValueError:
        raise ValidationError(f"No partner has the uuid or domain “{text}”.") from None
    org = lookup_by_uuid(Organization, text, "organization")
    raise ValidationError(f"{org.name} is a customer; only a partner can be chosen here.")


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

    def service_kwargs(self) -> dict[str, Any]:
        return {"remark": self.cleaned_data["remark"]}

    def add_service_error(self, message: str) -> None:
        self.add_error(self.service_error_field, message)


class ReserveForm(ActionForm):
    organization = forms.CharField(label="Organization uuid", help_text=UUID_HELP)
    reserved_for = forms.CharField(
        required=False, max_length=150,
        help_text="Optional: the subscriber username the numbers are held for.",
    )
    field_order = ["organization", "reserved_for", "remark"]
    service_error_field = "organization"

    def clean_organization(self) -> Organization:
        return lookup_by_uuid(Organization, self.cleaned_data["organization"], "organization")

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "organization": self.cleaned_data["organization"],
                "reserved_for": self.cleaned_data["reserved_for"]}


class AssignForm(ActionForm):
    subscription = forms.CharField(label="Service subscription uuid", help_text=UUID_HELP)
    field_order = ["subscription", "remark"]
    service_error_field = "subscription"

    def clean_subscription(self) -> Subscription:
        return lookup_by_uuid(Subscription, self.cleaned_data["subscription"], "subscription")

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "subscription": self.cleaned_data["subscription"]}


class ExtendForm(ActionForm):
    did_reservation = forms.CharField(label="DID reservation subscription uuid", help_text=UUID_HELP)
    remark = remark_field(required=False, help_text="Optional; kept in the number's history.")
    field_order = ["did_reservation", "remark"]
    service_error_field = "did_reservation"

    def clean_did_reservation(self) -> Subscription:
        return lookup_by_uuid(Subscription, self.cleaned_data["did_reservation"], "subscription")

    def service_kwargs(self) -> dict[str, Any]:
        return {**super().service_kwargs(), "did_reservation": self.cleaned_data["did_reservation"]}


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
    visible_to = forms.CharField(required=False, label="Visible to (partner uuid or domain)")
    clear_visible_to = forms.BooleanField(required=False, label="Clear visible to")
    add_tags = forms.CharField(required=False, help_text="Comma-separated.")
    remove_tags = forms.CharField(required=False, help_text="Comma-separated.")
    clear_tags = forms.BooleanField(required=False, help_text="Remove every tag (then add the above).")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
                            help_text="Replaces the notes.")
    clear_notes = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in BOOL_FIELDS.items():
            self.fields[name] = forms.ChoiceField(choices=KEEP, required=False, label=label)
        self.order_fields(["vendor", "sku", "routing", "clear_routing", *BOOL_FIELDS, "visible_to",
                           "clear_visible_to", "add_tags", "remove_tags", "clear_tags", "notes",
                           "clear_notes", "remark"])

    def clean_visible_to(self):
        value = self.cleaned_data["visible_to"].strip()
        return lookup_partner(value) if value else None

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
    visible_to = forms.CharField(required=False, label="Visible to (partner uuid or domain)")
    tags = forms.CharField(required=False, help_text="Comma-separated.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
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
            f"inclusive range like +6560000000-+6560000999 (at most {self.max_range:,} numbers)."
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

    def clean_visible_to(self):
        value = self.cleaned_data["visible_to"].strip()
        return lookup_partner(value) if value else None

    def number_attrs(self) -> dict[str, Any]:
        data = self.cleaned_data
        attrs: dict[str, Any] = {"is_golden": data["is_golden"], "is_ported_in": data["is_ported_in"],
                                 "tags": data["tags"], "notes": data["notes"].strip(),
                                 "visible_to": data["visible_to"]}
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
                  "visible_to", "tags", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(self.instance.tag_list)

    def clean_tags(self) -> str:
        return PhoneNumber.tags_to_field(self.cleaned_data["tags"] or "")

    def clean(self):
        data = super().clean()
        if self.instance.pk and self.attribute_changes() and not (data.get("remark") or "").strip():
            self.add_error("remark", "Say why: the remark is kept in the number's history.")
        return data

    def attribute_changes(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.changed_data
                if name in EDITABLE_ATTRS and name in self.cleaned_data}
