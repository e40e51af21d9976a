"""Plumbing of the ops admin: list filters, the estimated-count paginator and change list, the
intermediate-form runner for number actions, and the "Add numbers" page.

Nothing here decides a business rule: actions and the add page call inventory.services and
show what they answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import EmptyResultSet, PermissionDenied, ValidationError
from django.core.paginator import InvalidPage, Paginator
from django.db import connections
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from subscriptions.selectors import partner_find
from subscriptions.services import subscription_swap_number

from .choices import CAPABILITIES, NumberState
from .filters import NumberFilterSet
from .forms import AddNumbersForm, picker
from .models import PhoneNumber
from .numbers import NumberError, pattern_q
from .selectors import active_reservations_of
from .services import TransitionResult, number_add

MAX_LISTED_REFUSALS = 20
EXACT_COUNT_BELOW = 1_000  # estimates under this are replaced by an exact count (cheap when small)


# --- counting ---------------------------------------------------------------------------


def estimate_count(queryset) -> int | None:
    """PostgreSQL's own estimate of how many rows a queryset returns (None elsewhere).

    Unfiltered: the table's `reltuples`; filtered: the planner's row estimate (EXPLAIN,
    which does not run the query). Both are free at a million rows, unlike COUNT(*).
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    if queryset.query.is_empty():
        return 0
    with connection.cursor() as cursor:
        if not queryset.query.where:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [queryset.model._meta.db_table])
            row = cursor.fetchone()
            if row and row[0] is not None and row[0] >= 0:
                return int(row[0])
        try:
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:
            return 0
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_fast(queryset, *, indexed: bool = True) -> tuple[int, bool]:
    """(count, estimated): exact when the answer is small or the database is not PostgreSQL,
    else the planner's estimate (no full COUNT(*) at 10 million rows). `indexed=False`: no
    index serves the filter, so even a small answer stays an estimate (a bounded count
    would read every candidate row to find the few)."""
    estimate = estimate_count(queryset)
    if estimate is None:
        return queryset.count(), False
    if estimate < EXACT_COUNT_BELOW and indexed:
        # The planner can underestimate (a regex on an expression); a bounded count
        # stops at the bound instead of counting every match.
        bounded = queryset[: EXACT_COUNT_BELOW + 1].count()
        if bounded <= EXACT_COUNT_BELOW:
            return bounded, False
        estimate = bounded
    return estimate, True


def state_counts_fast() -> dict[str, tuple[int, bool]]:
    """(count, estimated) of every state and of the whole table ("") for the tabs, in two
    queries instead of an EXPLAIN (and maybe a bounded count) per tab.

    On PostgreSQL the estimates come from the planner's own statistics (the table's
    `reltuples` times the state column's most-common-value frequencies, what EXPLAIN would
    say); a state estimated under EXACT_COUNT_BELOW (or not among those values) is counted
    exactly, all such states in one bounded query over the (state, id) index.
    Elsewhere: one exact GROUP BY.
    """
    from django.db.models import Count

    connection = connections[PhoneNumber.objects.db]
    states = list(NumberState.values)
    if connection.vendor != "postgresql":
        exact = dict(PhoneNumber.objects.order_by().values_list("state").annotate(n=Count("pk")))
        counts = {state: (exact.get(state, 0), False) for state in states}
        counts[""] = (sum(exact.values()), False)
        return counts
    table = PhoneNumber._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples::bigint, s.most_common_vals::text::text[], s.most_common_freqs "
            "FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() "
            "AND s.tablename = c.relname AND s.attname = 'state' WHERE c.oid = %s::regclass",
            [table])
        row = cursor.fetchone()
    total, values, freqs = row if row else (-1, None, None)
    if total is None or total < 0:  # never analyzed: no statistics to estimate from
        exact = dict(PhoneNumber.objects.order_by().values_list("state").annotate(n=Count("pk")))
        counts = {state: (exact.get(state, 0), False) for state in states}
        counts[""] = (sum(exact.values()), False)
        return counts
    estimates = dict(zip(values or [], freqs or [], strict=False))
    counts = {state: (round(total * estimates.get(state, 0.0)), True) for state in states}
    small = [state for state in states if counts[state][0] < EXACT_COUNT_BELOW]
    if small:
        # Each small state's rows, at most EXACT_COUNT_BELOW + 1 of them, read from the index.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.state, (SELECT count(*) FROM (SELECT 1 FROM " + connection.ops.quote_name(table)
                + " n WHERE n.state = s.state LIMIT %s) x) FROM unnest(%s::text[]) AS s(state)",
                [EXACT_COUNT_BELOW + 1, small])
            for state, n in cursor.fetchall():
                counts[state] = (n, False) if n <= EXACT_COUNT_BELOW else (n, True)
    counts[""] = (max(int(total), 0), True)
    return counts


class EstimatedCountPaginator(Paginator):
    """Counts exactly when the answer is small, else trusts the planner's estimate.

    `estimated` tells the template to say "about".
    """

    estimated = False

    @cached_property
    def count(self) -> int:
        count, self.estimated = count_fast(self.object_list)
        return count


class NumberChangeList(ChangeList):
    """Reads the page before counting: when the first page is not full, its length is the
    count and no COUNT or estimate runs (a filter that matches little costs one query).
    Adds to each row its active reservation (one query per page)."""

    def get_results(self, request):
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        rows = None
        if self.page_num == 1 and not self.show_all:
            rows = list(self.queryset[: self.list_per_page + 1])
            if len(rows) <= self.list_per_page:
                paginator.__dict__["count"] = len(rows)
            rows = rows[: self.list_per_page]
        result_count = paginator.count
        self.result_count = result_count
        self.show_full_result_count = False
        self.show_admin_actions = True
        self.full_result_count = None
        self.can_show_all = result_count <= self.list_max_show_all
        self.multi_page = result_count > self.list_per_page
        self.paginator = paginator
        if rows is None:
            if self.show_all and self.can_show_all:
                rows = list(self.queryset._clone())
            else:
                try:
                    rows = list(paginator.page(self.page_num).object_list)
                except InvalidPage:
                    raise IncorrectLookupParameters from None
                if getattr(paginator, "estimated", False) and len(rows) < self.list_per_page:
                    # The last page: now the count is known exactly.
                    exact = (self.page_num - 1) * self.list_per_page + len(rows)
                    if rows:
                        self.result_count = paginator.__dict__["count"] = exact
                        paginator.estimated = False
                        self.multi_page = exact > self.list_per_page
                        self.can_show_all = exact <= self.list_max_show_all
        active = active_reservations_of([n.pk for n in rows])
        for number in rows:
            number.active_reservation = active.get(number.pk)
        self.result_list = rows


# --- list filters -----------------------------------------------------------------------


class StateTabFilter(admin.SimpleListFilter):
    """The state, shown as tabs above the list instead of in the sidebar."""

    title = "state"
    parameter_name = "state"
    is_tab = True

    def lookups(self, request, model_admin):
        return NumberState.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value in NumberState.values:
            # A range of one value, not `state = …`, with the list ordered by (state, e164)
            # (PhoneNumberAdmin.get_ordering): then only number_state_e164 serves the order and
            # PostgreSQL reads the tab's page from it. With an equality it walks the e164
            # index hoping the state is spread evenly: the first locked number of the 10M set
            # comes after a million others (724 ms a page → 1 ms).
            return queryset.filter(state__gte=value, state__lte=value)
        if value:
            return queryset.none()
        return queryset


class CapabilityFilter(admin.SimpleListFilter):
    title = "capability"
    parameter_name = "capability"

    def lookups(self, request, model_admin):
        return [(c, c.upper() if c == "sms" else c.capitalize()) for c in CAPABILITIES]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{value: True}) if value in CAPABILITIES else queryset


class InputFilter(admin.ListFilter):
    """A text box instead of a list of links: for values with too many rows to list
    (organizations, subscriptions, tags). Applies NumberFilterSet's field of the same
    name, so the admin, the dashboard and the export mean the same by each filter."""

    template = "admin/inventory/input_filter.html"
    parameter_name = ""
    filterset_field = ""
    placeholder = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        value = params.pop(self.parameter_name, None)
        if isinstance(value, list):
            value = value[-1]
        self.text = (value or "").strip()
        if self.text:
            self.used_parameters[self.parameter_name] = self.text

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_name]

    def value(self) -> str:
        return self.text

    def queryset(self, request, queryset):
        if not self.text:
            return queryset
        field = self.filterset_field or self.parameter_name
        filterset = NumberFilterSet({field: self.text}, queryset=queryset)
        if not filterset.is_valid():
            errors = " ".join(" ".join(e) for e in filterset.errors.values())
            messages.error(request, f"{self.title}: {errors}")
            return queryset.none()
        return filterset.qs

    def choices(self, changelist):
        keep = [(k, v) for k, values in changelist.params.items() if k not in (self.parameter_name, "p")
                for v in (values if isinstance(values, list) else [values])]
        yield {
            "parameter_name": self.parameter_name,
            "value": self.text,
            "placeholder": self.placeholder,
            "keep": keep,
            "clear_url": changelist.get_query_string(remove=[self.parameter_name, "p"]),
        }


class CountryFilter(InputFilter):
    title = "country"
    parameter_name = "country"
    placeholder = "SG"


class RoutingFilter(InputFilter):
    title = "routing"
    parameter_name = "routing"


class PickerFilter(InputFilter):
    """A filter by organization or subscription, picked by name (the admin's autocomplete).

    The value in the URL is the record's id or its uuid (links from other pages use the
    uuid); resolving it to an id first lets PostgreSQL use the foreign-key index and its
    statistics, where a join on the uuid makes it guess."""

    template = "admin/inventory/input_filter.html"
    placeholder = "name, domain or uuid"
    field = ""  # PhoneNumber's foreign key that is filtered and whose autocomplete is used
    label = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.found = None

    def target(self) -> Any:
        return PhoneNumber._meta.get_field(self.field).related_model

    def queryset(self, request, queryset):
        if not self.text:
            return queryset
        self.found = self.lookup(self.text)
        if self.found is None:
            messages.error(request, f"{self.title}: no {self.label} is “{self.text}”.")
            return queryset.none()
        return queryset.filter(**{f"{self.field}_id": self.found.pk})

    def lookup(self, text: str) -> Any:
        model = self.target()
        if text.isdigit():
            return model.objects.filter(pk=int(text)).first()
        try:
            key = uuid.UUID(text)
        except ValueError:
            return None
        return model.objects.filter(uuid=key).first()

    def widget_html(self) -> str:
        field = forms.ModelChoiceField(self.target().objects.all(), required=False,
                                       widget=picker(PhoneNumber, self.field))
        field.widget.attrs.update({"aria-label": self.title, "style": "width: 100%"})
        value = self.found.pk if self.found is not None else None
        return field.widget.render(self.parameter_name, value, attrs={"id": f"filter-{self.parameter_name}"})

    def choices(self, changelist):
        for choice in super().choices(changelist):
            yield {**choice, "widget": self.widget_html()}


class VisibleToFilter(PickerFilter):
    title = "visible to (partner)"
    parameter_name = "visible_to"
    field, label = "visible_to", "partner"

    def lookup(self, text: str) -> Any:
        return super().lookup(text) or partner_find(text)


class SubscriptionFilter(PickerFilter):
    title = "subscription"
    parameter_name = "subscription"
    field, label = "subscription", "subscription"


class OwnerFilter(PickerFilter):
    title = "owner (organization)"
    parameter_name = "owner"
    field, label = "organization", "organization"


class ReservedForFilter(InputFilter):
    title = "reserved for"
    parameter_name = "reserved_for"
    placeholder = "username"


class TagFilter(InputFilter):
    title = "tag"
    parameter_name = "tags"
    placeholder = "one tag"


def pattern_search(request, queryset, term: str):
    """Number search through inventory.numbers.pattern_q: index-friendly on PostgreSQL."""
    term = (term or "").strip()
    if not term:
        return queryset
    try:
        return queryset.filter(pattern_q(term))
    except NumberError as exc:
        messages.error(request, f"Number pattern “{term}”: {exc}")
        return queryset.none()


# --- actions with an intermediate form --------------------------------------------------


PAST = {"Reserve": "Reserved", "Assign": "Assigned", "Extend": "Extended", "Release": "Released",
        "Lock": "Locked", "Unlock": "Unlocked", "Delete": "Deleted", "Recover": "Recovered",
        "Mass edit": "Updated", "Add numbers": "Added", "Swap": "Swapped",
        "Set reserved for": "Updated"}
MAX_LINKED = 200  # numbers named in a "view them" link (the URL stays short)


def day(value: dt.datetime | None) -> str:
    """A date as every admin screen writes it: 29 Dec 2026, in the configured zone."""
    return timezone.localtime(value).strftime("%-d %b %Y") if value else "—"


def moment(value: dt.datetime | None) -> str:
    """A time as every admin screen writes it: 29 Dec 2026 14:05, in the configured zone."""
    return timezone.localtime(value).strftime("%-d %b %Y %H:%M") if value else "—"


def numbers_url(*, ids: list[int] | None = None, e164s: list[str] | None = None) -> str:
    """The number list showing exactly these numbers (the All tab)."""
    url = reverse("admin:inventory_phonenumber_changelist")
    if ids is not None:
        return f"{url}?{urlencode({'id__in': ','.join(str(i) for i in ids[:MAX_LINKED])})}"
    return f"{url}?{urlencode({'e164__in': ','.join((e164s or [])[:MAX_LINKED])})}"


def _one(values: list[Any]) -> Any:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def done_sentence(verb: str, done: list[PhoneNumber]) -> str:
    """"Reserved 3 numbers for Beta Logistics until 29 Dec 2026": the holder and the end
    when the done numbers share them."""
    text = f"{PAST.get(verb, verb)} {len(done)} number{'' if len(done) == 1 else 's'}"
    holder = _one([n.subscription_id or n.organization_id for n in done])
    if holder is not None:
        sub, org = done[0].subscription, done[0].organization
        if sub is not None:
            text += f" to {sub.plan or sub.get_kind_display()} of {sub.organization.name}"
        elif org is not None:
            text += f" for {org.name}"
    ends = _one([n.expires_at.date() if n.expires_at else None for n in done])
    if ends is not None:
        text += f" until {day(done[0].expires_at)}"
    return text


def report_result(model_admin, request, verb: str, result: TransitionResult) -> None:
    """What happened, in words, with a link to exactly those numbers; refusals as a
    separate warning listing each number and its reason, linking to exactly those."""
    if result.done:
        link = format_html('<a href="{}">view them</a>', numbers_url(ids=[n.pk for n in result.done]))
        model_admin.message_user(request, format_html("{} — {}.", done_sentence(verb, result.done), link),
                                 messages.SUCCESS)
    elif not result.rejected:
        model_admin.message_user(request, f"{verb}: nothing to change ({result.summary()}).",
                                 messages.INFO)
    if result.unchanged and result.done:
        model_admin.message_user(request, f"{len(result.unchanged)} already so (unchanged).",
                                 messages.INFO)
    if not result.rejected:
        return
    listed = list(result.rejected.items())[:MAX_LISTED_REFUSALS]
    more = len(result.rejected) - len(listed)
    items = format_html_join("", "<li>{}: {}</li>", listed)
    tail = format_html("<li>… and {} more refused</li>", more) if more > 0 else ""
    link = format_html('<a href="{}">view them</a>', numbers_url(e164s=list(result.rejected)))
    refused = len(result.rejected)
    message = format_html('{}: {} number{} refused — {}.<ul class="refusals">{}{}</ul>', verb, refused,
                          "" if refused == 1 else "s", link, items, tail)
    model_admin.message_user(request, message, messages.WARNING)


def holders_of(queryset, limit: int = 1000) -> list[dict[str, Any]]:
    """Who holds the selected numbers and until when (from the first `limit`, so that a
    confirmation of "all 10 million" stays cheap)."""
    rows = queryset.order_by("e164").values_list("organization__name", "subscription__plan",
                                                 "expires_at")[:limit]
    holders: dict[str, dict[str, Any]] = {}
    for name, plan, ends in rows:
        key = name or "no holder"
        entry = holders.setdefault(key, {"name": key, "plan": plan or "", "count": 0, "ends": set()})
        entry["count"] += 1
        entry["ends"].add(day(ends) if ends else "no end")
    return [{**h, "ends": ", ".join(sorted(h["ends"]))} for h in list(holders.values())[:10]]


def back_to(request) -> str | None:
    """Where to return after the action: the number's page when it started there."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return None


def run_action(model_admin, request, queryset, *, title: str, verb: str, form_class,
               service: Callable[..., TransitionResult], destructive: bool = False,
               help_text: str = ""):
    """Show the action's form (which is also the confirmation); on "apply", call the service.

    The form posts back to the change list with the same query string and the same
    selection (`select_across` keeps "all N matching" without listing a million ids).
    Started from a number's page (`next`), it returns there with the result.
    """
    form = form_class(request.POST if "apply" in request.POST else None, prefix="f", numbers=queryset)
    if "apply" in request.POST and form.is_valid():
        try:
            result = service(numbers=queryset, actor=request.user, **form.service_kwargs())
        except ValidationError as exc:
            form.add_service_error(" ".join(exc.messages))
        else:
            report_result(model_admin, request, verb, result)
            target = back_to(request)
            return HttpResponseRedirect(target) if target else None
    count = queryset.count()
    sample = list(queryset.order_by("e164").values_list("e164", flat=True)[:10])
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "form": form,
        "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}),
        "count": count,
        "sample": sample,
        "holders": holders_of(queryset),
        "destructive": destructive,
        "help_text": help_text,
        "action": request.POST.get("action", ""),
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "next": back_to(request) or "",
        "verb": verb,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/inventory/phonenumber/action_form.html", context)


def number_swap_out(*, numbers, actor, new: PhoneNumber, remark: str) -> TransitionResult:
    """The admin's swap: one assigned number out, `new` in, through subscription_swap_number."""
    old = list(numbers.select_related("subscription")[:2])
    if len(old) != 1:
        raise ValidationError("Swap one number at a time: select exactly one assigned number.")
    if old[0].subscription is None:
        raise ValidationError(f"{old[0].e164} is {old[0].state}; only an assigned number can be "
                              "swapped out.")
    return subscription_swap_number(subscription=old[0].subscription, old=old[0], new=new, actor=actor,
                                    remark=remark)


# --- add numbers ------------------------------------------------------------------------

ADD_FIELDSETS = [
    (None, {"fields": ["numbers", "country"]}),
    ("Catalogue", {"fields": ["vendor", "sku", "capabilities", "is_golden", "is_ported_in"]}),
    ("Details", {"fields": ["visible_to", "tags", "notes", "state", "remark"]}),
    ("Hold", {"fields": ["after_hold_state", "hold_days"]}),
]


def add_numbers_preview(form: AddNumbersForm, user) -> dict[str, Any]:
    """What a confirm would do (number_add's own decisions, dry run): how many are created,
    which exist, which are invalid and why."""
    result = number_add(**_add_arguments(form), actor=user, dry_run=True)
    new = [n.e164 for n in result.done]
    existing = sorted(k for k, reason in result.rejected.items() if reason == "already exists")
    return {
        "create_count": len(new),
        "create_sample": new[:10],
        "create_tail": new[-3:] if len(new) > 13 else [],
        "existing": existing[:50],
        "existing_count": len(existing),
        "invalid": sorted((k, r) for k, r in result.rejected.items() if r != "already exists"),
    }


def _add_arguments(form: AddNumbersForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "numbers": data["numbers"], "vendor": data["vendor"], "sku": data["sku"],
        "country": data["country"] or None, "state": data["state"], "remark": data["remark"],
        "max_items": form.max_items, "max_range": form.max_range, **form.number_attrs(),
    }


def _fingerprint(request, form) -> str:
    """What the preview showed; a confirm of anything else is previewed again first."""
    values = [(name, request.POST.getlist(name)) for name in sorted(form.fields)]
    return hashlib.sha256(repr(values).encode()).hexdigest()


def add_numbers_view(model_admin, request):
    """The admin's "add" page for numbers: singles and ranges, a preview, then number_add."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    preview = None
    if request.method == "POST":
        form = AddNumbersForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            fingerprint = _fingerprint(request, form)
            if "confirm" in request.POST and request.POST.get("previewed") == fingerprint:
                try:
                    result = number_add(**_add_arguments(form), actor=request.user)
                except ValidationError as exc:
                    form.add_error(None, " ".join(exc.messages))
                else:
                    report_result(model_admin, request, "Add numbers", result)
                    url = reverse("admin:inventory_phonenumber_changelist")
                    return HttpResponseRedirect(f"{url}?state={data['state']}")
            if form.is_valid():
                try:
                    preview = {**add_numbers_preview(form, request.user), "fingerprint": fingerprint}
                except ValidationError as exc:
                    form.add_error(None, " ".join(exc.messages))
    else:
        form = AddNumbersForm()
    opts = PhoneNumber._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Add numbers",
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "form": form,
        "adminform": helpers.AdminForm(form, ADD_FIELDSETS, {}),
        "preview": preview,
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/inventory/phonenumber/add_numbers.html", context)
