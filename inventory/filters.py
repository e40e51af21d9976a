"""django-filter FilterSets: the search fields of DESIGN §3, shared by export and dashboard."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError

from .choices import CAPABILITIES, NumberState
from .models import PhoneNumber, Sku, Vendor
from .numbers import NumberError, pattern_q


class NumberFilterSet(django_filters.FilterSet):
    """Every search field. A value that names nothing simply matches nothing."""

    number = django_filters.CharFilter(method="filter_pattern", label="Number pattern",
                                       help_text="+65* · *1234 · +65 (prefix) · 65 (contains)")
    state = django_filters.MultipleChoiceFilter(choices=NumberState.choices)
    sku = django_filters.ModelChoiceFilter(queryset=Sku.objects.all(), to_field_name="code")
    vendor = django_filters.ModelChoiceFilter(queryset=Vendor.objects.all(), to_field_name="name")
    country = django_filters.CharFilter(method="filter_country")
    capability = django_filters.MultipleChoiceFilter(
        choices=[(c, c) for c in CAPABILITIES], method="filter_capability"
    )
    routing = django_filters.CharFilter()
    golden = django_filters.BooleanFilter(field_name="is_golden")
    ported_in = django_filters.BooleanFilter(field_name="is_ported_in")
    visible_to = django_filters.UUIDFilter(field_name="visible_to__uuid")
    subscription = django_filters.UUIDFilter(field_name="subscription__uuid")
    owner = django_filters.UUIDFilter(field_name="organization__uuid", label="Owner (organization)")
    reserved_for = django_filters.CharFilter()
    tags = django_filters.CharFilter(method="filter_tags", help_text="One tag")

    class Meta:
        model = PhoneNumber
        fields: list[str] = []

    def filter_pattern(self, queryset, name, value):
        try:
            return queryset.filter(pattern_q(value))
        except NumberError as exc:
            raise ValidationError({"number": str(exc)}) from exc

    def filter_country(self, queryset, name, value):
        return queryset.filter(country=value.strip().upper())

    def filter_capability(self, queryset, name, value):
        return queryset.filter(**{c: True for c in value if c in CAPABILITIES})

    def filter_tags(self, queryset, name, value):
        tag = value.strip().strip(";")
        return queryset.filter(tags__contains=f";{tag};") if tag else queryset


def filter_numbers(queryset, params) -> tuple[object, forms.Form]:
    """Apply NumberFilterSet; invalid values raise ValidationError naming the field."""
    filterset = NumberFilterSet(params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(
            "; ".join(f"{field}: {' '.join(errs)}" for field, errs in filterset.errors.items())
        )
    return filterset.qs, filterset.form
