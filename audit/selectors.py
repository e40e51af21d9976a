"""The audit log: every history row of every tracked model, newest first.

Each model's history table is read on its own (`ORDER BY history_date DESC, history_id DESC
LIMIT n+1`, served by the history_date index) and the pages are merged here, so a page
costs one short indexed query per model whatever the size of the tables. There is no
COUNT: the next page starts after a cursor (date, model, history id), a total order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, Q, QuerySet, prefetch_related_objects
from django.urls import NoReverseMatch, reverse
from simple_history.models import registered_models
from simple_history.utils import get_history_model_for_model

from inventory.numbers import pattern_q

PAGE_SIZE = 50
CURSOR_SEP = "~"


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the next page lists what sorts after it."""

    date: dt.datetime
    model: str
    history_id: int

    def encode(self) -> str:
        return CURSOR_SEP.join([self.date.isoformat(), self.model, str(self.history_id)])

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Raises ValueError for anything that is not a cursor this module wrote."""
        date, model, history_id = value.split(CURSOR_SEP)
        when = dt.datetime.fromisoformat(date)
        if when.tzinfo is None:
            raise ValueError("cursor date without a time zone")
        return cls(date=when, model=model, history_id=int(history_id))


@dataclass(frozen=True)
class AuditFilters:
    user_id: int | None = None
    model: str | None = None  # "app_label.model_name"
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive
    number_prefix: str | None = None  # E.164 prefix; only number history has numbers


@dataclass
class AuditEntry:
    record: Any  # the historical row
    model: type[Model]
    label: str
    change_url: str | None
    history_url: str | None

    @property
    def model_label(self) -> str:
        return model_key(self.model)

    @property
    def type_name(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def cursor(self) -> Cursor:
        return Cursor(date=self.record.history_date, model=model_key(self.model),
                      history_id=self.record.history_id)


@dataclass
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: Cursor | None


def model_key(model: type[Model]) -> str:
    return model._meta.label_lower


def tracked_models() -> list[type[Model]]:
    """Every model with a simple-history `HistoricalRecords`, in a stable order."""
    models = [m for m in registered_models.values() if hasattr(m._meta, "simple_history_manager_attribute")]
    return sorted({model_key(m): m for m in models}.values(), key=model_key)


def _after(queryset: QuerySet, key: str, cursor: Cursor) -> QuerySet:
    """The rows of one model that sort after the cursor (date desc, model desc, id desc)."""
    if key < cursor.model:
        return queryset.filter(history_date__lte=cursor.date)
    if key > cursor.model:
        return queryset.filter(history_date__lt=cursor.date)
    return queryset.filter(Q(history_date__lt=cursor.date)
                           | Q(history_date=cursor.date, history_id__lt=cursor.history_id))


def _history_of(model: type[Model], filters: AuditFilters, cursor: Cursor | None,
                limit: int) -> list[Any] | None:
    """One model's next `limit` rows, or None when the filters exclude the model."""
    if filters.model and filters.model != model_key(model):
        return None
    queryset = get_history_model_for_model(model).objects.all()
    if filters.number_prefix is not None:
        if not any(f.name == "e164" for f in model._meta.fields):
            return None
        # Numbers are never deleted as rows, so the live table's indexed e164 finds them and
        # the history's index on id finds their rows: no extra index on the history table.
        numbers = model._default_manager.filter(pattern_q(filters.number_prefix)).values("pk")
        queryset = queryset.filter(id__in=numbers)
    if filters.user_id is not None:
        queryset = queryset.filter(history_user_id=filters.user_id)
    if filters.since is not None:
        queryset = queryset.filter(history_date__gte=filters.since)
    if filters.until is not None:
        queryset = queryset.filter(history_date__lt=filters.until)
    if cursor is not None:
        queryset = _after(queryset, model_key(model), cursor)
    return list(queryset.select_related("history_user").order_by("-history_date", "-history_id")[:limit])


def _label(model: type[Model], record: Any) -> str:
    """The record as its model names it (`__str__` read from the history row's own fields)."""
    try:
        return str(model.__str__(record))
    except (AttributeError, ObjectDoesNotExist, TypeError):
        return f"{model._meta.verbose_name} #{record.id}"


def _url(model: type[Model], view: str, pk: Any) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=[pk])
    except NoReverseMatch:
        return None


def audit_log_page(*, filters: AuditFilters, cursor: Cursor | None = None,
                   page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of the audit log, newest first, and the cursor of the next page (None = last)."""
    rows: list[tuple[type[Model], Any]] = []
    for model in tracked_models():
        records = _history_of(model, filters, cursor, page_size + 1)
        rows.extend((model, r) for r in records or ())
    rows.sort(key=lambda mr: (mr[1].history_date, model_key(mr[0]), mr[1].history_id), reverse=True)
    shown, more = rows[:page_size], len(rows) > page_size
    by_model: dict[type[Model], list[Any]] = {}
    for model, record in shown:
        by_model.setdefault(model, []).append(record)
    for records in by_model.values():  # what the labels read: one query per relation
        fields = type(records[0])._meta.concrete_fields
        relations = [f.name for f in fields if f.many_to_one and f.name != "history_user"]
        prefetch_related_objects(records, *relations)
    entries = [
        AuditEntry(record=record, model=model, label=_label(model, record),
                   change_url=_url(model, "change", record.id) if record.history_type != "-" else None,
                   history_url=_url(model, "history", record.id))
        for model, record in shown
    ]
    return AuditPage(entries=entries, next_cursor=entries[-1].cursor if more and entries else None)
