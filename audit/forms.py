"""The audit log's filters, and the "reason for this change" field of the history admins."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from .selectors import AuditFilters, Cursor, tracked_models

NUMBER_PREFIX_RE = re.compile(r"^\+?[1-9]\d{0,14}$")
NUMBER_CLEAN_RE = re.compile(r"[\s\-().]")


def change_reason_field() -> forms.CharField:
    return forms.CharField(
        label="Reason for this change", required=False, max_length=500,
        help_text="Kept with this change in the record's history and the audit log.",
    )


def _model_choices() -> list[tuple[str, str]]:
    return [("", "All records")] + [
        (m._meta.label_lower, f"{m._meta.app_config.verbose_name} · {m._meta.verbose_name}")
        for m in tracked_models()
    ]


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_username()


class AuditLogFilterForm(forms.Form):
    """Everything is optional; a bad value is a message on the page, never an error page."""

    user = UserChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Anyone",
        help_text="Staff users, and \"system\" for what beat and the worker did.",
    )
    model = forms.ChoiceField(label="Record type", required=False, choices=_model_choices)
    date_from = forms.DateField(label="From", required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To (inclusive)", required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    number = forms.CharField(label="Number starts with", required=False, max_length=32,
                             help_text="E.164 prefix, e.g. +6591. Lists number history only.")
    after = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(Q(is_staff=True) | Q(username=settings.SYSTEM_USERNAME))
        cast(UserChoiceField, self.fields["user"]).queryset = users.order_by("username")

    def clean_number(self) -> str | None:
        text = NUMBER_CLEAN_RE.sub("", self.cleaned_data["number"])
        if not text:
            return None
        if not NUMBER_PREFIX_RE.fullmatch(text):
            raise forms.ValidationError("Enter the start of a number in E.164: digits after a +, e.g. +6591.")
        return text if text.startswith("+") else f"+{text}"

    def clean_after(self) -> Cursor | None:
        value = self.cleaned_data["after"]
        if not value:
            return None
        try:
            return Cursor.decode(value)
        except ValueError:
            raise forms.ValidationError("This page link is damaged; start again from the first page.") \
                from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> AuditFilters:
        """The cleaned form as selector filters; dates are whole days in the local time zone."""
        data = self.cleaned_data
        user = data.get("user")
        return AuditFilters(
            user_id=user.pk if user else None,
            model=data.get("model") or None,
            since=_day_start(data["date_from"]) if data.get("date_from") else None,
            until=_day_start(data["date_to"] + dt.timedelta(days=1)) if data.get("date_to") else None,
            number_prefix=data.get("number"),
        )


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))
