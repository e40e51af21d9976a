"""The dashboard's search: inventory's one NumberFilterSet, narrowed to what a partner may use."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from inventory.filters import NumberFilterSet, ScopedOrderingFilter
from subscriptions.models import Organization
from subscriptions.selectors import partner_organizations

from .selectors import PARTNER_STATES


class PartnerNumberFilterSet(NumberFilterSet):
    """NumberFilterSet minus ops-only fields, plus the partner's own customers as choices.

    It only narrows the queryset it is given (numbers_visible_to), and an invalid value
    (another partner's customer, a bad pattern, a state no partner number can be in) is a
    form error with an empty result, never a silently dropped filter."""

    vendor = None  # ops-only (DESIGN §6: the search fields minus vendor and routing)
    routing = None
    visible_to = None
    owner = None
    # Only the states a number in a partner's scope can be in. distinct=False: DISTINCT over
    # every column doubled the cost of a state filter on 100k rows and cannot remove anything.
    state = django_filters.MultipleChoiceFilter(
        choices=[(s.value, s.label) for s in PARTNER_STATES], distinct=False)
    customer = django_filters.ModelChoiceFilter(
        queryset=Organization.objects.none(), field_name="organization", to_field_name="uuid",
        label="Customer", empty_label="All customers",
    )
    expires = django_filters.DateFromToRangeFilter(field_name="expires_at", label="Ends between")
    sort = ScopedOrderingFilter(
        fields=(
            ("e164", "number"), ("state", "state"), ("country", "country"), ("sku__code", "sku"),
            ("organization__name", "customer"), ("reserved_for", "reserved_for"),
            ("expires_at", "expires"), ("state_changed_at", "since"),
        ),
        label="Sort",
    )

    def __init__(self, data: Any = None, queryset: QuerySet | None = None, *,
                 partner: Organization, **kwargs: Any) -> None:
        super().__init__(data, queryset=queryset, **kwargs)
        self.partner = partner
        # Only the partner itself and its own customers are choices: any other uuid is a form
        # error. Set before the form is first built (django-filter builds fields lazily).
        self.filters["customer"].queryset = partner_organizations(partner).order_by("-kind", "name")
        fields = self.form.fields
        fields["customer"].label_from_instance = (
            lambda org: f"{org.name} (own)" if org.pk == partner.pk else org.name
        )
        for name in ("state", "capability"):  # checkboxes read better than a multi-select
            fields[name].widget = forms.CheckboxSelectMultiple(choices=fields[name].choices)
        for name in ("golden", "ported_in"):
            fields[name].widget.choices = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]
        for widget in fields["expires"].widget.widgets:
            widget.input_type = "date"
        fields["subscription"].widget.attrs["placeholder"] = "subscription uuid"
        fields["number"].widget.attrs["placeholder"] = "+65* · *1234 · 6560"

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if not self.form.is_valid():
            return queryset.none()
        try:
            return super().filter_queryset(queryset)
        except ValidationError as exc:
            for field, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                self.form.add_error(field if field in self.form.fields else None, messages)
            return queryset.none()
