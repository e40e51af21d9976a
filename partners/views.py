"""Partner dashboard (read-only, GET only).

Every view reads through inventory.selectors.numbers_visible_to(user): the one scope. A number
outside it is a 404 whatever the URL; a filter value outside it is a form error with an empty
result. Nothing here imports a service: the dashboard only reads.
"""

from __future__ import annotations

import functools
import math
import tempfile
from collections.abc import Callable
from typing import Any, cast

from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from inventory.exports import CONTENT_TYPES, EXPORT_COLUMNS, ExportError, csv_chunks, write_xlsx
from inventory.selectors import numbers_visible_to, partner_of
from subscriptions.models import Organization

from .charts import chart_ending
from .filters import PartnerNumberFilterSet
from .selectors import (
    PARTNER_STATES,
    partner_ending_soon,
    partner_longest_available,
    partner_number,
    partner_numbers_page,
    partner_reservations,
    partner_summary,
    partner_timeline,
)

PER_PAGE = 50
# The table counts at most this many rows: enough for exact page numbers on ordinary
# searches, bounded for a partner holding hundreds of thousands of numbers.
COUNT_CAP = 10_000


class PartnerRequest(HttpRequest):
    """A request that partner_view let through: `partner` is the user's organization."""

    partner: Organization


View = Callable[..., HttpResponseBase]


def partner_view(view: View) -> View:
    """GET/HEAD only, logged in, a partner member; responses are never cached (private data)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        partner = partner_of(request.user)
        if partner is None:
            return render(request, "partner/no_partner.html", status=403)
        cast(PartnerRequest, request).partner = partner
        return view(request, *args, **kwargs)

    return require_safe(never_cache(wrapped))


def number_url(e164: str) -> str:
    """A number's page with the `+` percent-encoded (raw `+` is accepted too)."""
    return reverse("partner:number", kwargs={"e164": e164}).replace("+", "%2B")


# --- summary --------------------------------------------------------------------------------

@partner_view
def summary(request: PartnerRequest) -> HttpResponseBase:
    user = request.user
    now = timezone.now()
    counts = partner_summary(user, now=now)
    states = [{"value": s.value, "label": s.label, "count": counts["by_state"].get(s.value, 0)}
              for s in PARTNER_STATES]
    return render(request, "partner/summary.html", {
        "partner": request.partner,
        "total": counts["total"],
        "states": states,
        "holders": counts["holders"][:12],
        "more_holders": max(len(counts["holders"]) - 12, 0),
        "chart": chart_ending(counts["per_day"]),
        "ending_soon": partner_ending_soon(user, per_day=counts["per_day"], now=now),
        "longest_available": partner_longest_available(user),
        "now": now,
        "nav": "summary",
    })


# --- the table -------------------------------------------------------------------------------

COLUMNS = [
    # (sort param, header, css class) — sort param None: not sortable.
    ("number", "Number", ""),
    ("state", "State", ""),
    ("customer", "Held by", ""),
    ("sku", "SKU · features", "opt"),
    ("reserved_for", "Reserved for", "opt"),
    ("expires", "Ends", ""),
    ("since", "In state since", "opt opt-wide"),
    (None, "Tags", "opt"),
]


def _filterset(request: PartnerRequest, queryset: QuerySet | None = None) -> PartnerNumberFilterSet:
    if queryset is None:
        queryset = numbers_visible_to(request.user)
    return PartnerNumberFilterSet(request.GET, queryset=queryset, partner=request.partner)


def _page_number(raw: str | None) -> int:
    try:
        return min(max(int(raw or 1), 1), 1_000_000)
    except ValueError:
        return 1


@partner_view
def number_list(request: PartnerRequest) -> HttpResponseBase:
    filterset = _filterset(request)
    page = _page_number(request.GET.get("page"))
    offset = (page - 1) * PER_PAGE
    current_sort = (filterset.form.cleaned_data.get("sort") or [""])[0] \
        if filterset.form.is_valid() else ""
    result = partner_numbers_page(request.user, filterset.qs, filterset.filter_queryset,
                                  sort=current_sort, offset=offset,
                                  per_page=PER_PAGE, cap=COUNT_CAP, first_page=page == 1)
    rows, has_next, count = result.rows, result.has_next, result.count
    capped = count > COUNT_CAP
    num_pages = None if capped else max(math.ceil(count / PER_PAGE), 1)
    columns: list[dict[str, Any]] = []
    for param, header, css in COLUMNS:
        if param is None:
            columns.append({"header": header, "css": css})
            continue
        active = current_sort.lstrip("-") == param or (not current_sort and param == "number")
        descending = active and current_sort.startswith("-")
        columns.append({
            "header": header, "css": css, "active": active, "descending": descending,
            "sort": param if (not active or descending) else f"-{param}",
        })
    return render(request, "partner/number_list.html", {
        "partner": request.partner,
        "filter": filterset,
        "form": filterset.form,
        "rows": rows,
        "columns": columns,
        "page": page,
        "has_previous": page > 1,
        "has_next": has_next,
        "count": count,
        "capped": capped,
        "count_cap": COUNT_CAP,
        "num_pages": num_pages,
        "first_index": offset + 1 if rows else 0,
        "last_index": offset + len(rows),
        "nav": "numbers",
        "filtered": any(k not in ("page", "sort") and v for k, v in request.GET.items()),
    })


# --- one number ------------------------------------------------------------------------------

def _e164_or_404(raw: str) -> str:
    text = raw.strip().replace(" ", "")
    if not text.startswith("+"):
        text = "+" + text
    if not text[1:].isdigit() or not 7 <= len(text) <= 16:
        raise Http404("No such number")
    return text


@partner_view
def number_detail(request: PartnerRequest, e164: str) -> HttpResponseBase:
    number = partner_number(request.user, _e164_or_404(e164))
    if number is None:
        raise Http404("No such number")
    reservations = list(partner_reservations(request.user, number)[:50])
    current = next((r for r in reservations if r.status == "active"), None)
    return render(request, "partner/number_detail.html", {
        "partner": request.partner,
        "number": number,
        "current": current,
        "reservations": reservations,
        "timeline": partner_timeline(request.user, number),
        "nav": "numbers",
    })


# --- export ----------------------------------------------------------------------------------
# inventory/exports.py's columns, minus the ops-only ones, written by its own writers, with a
# header in words: a partner's file is read by people, not imported back.

OPS_ONLY_COLUMNS = frozenset({"vendor", "reseller", "routing", "notes", "visible_to", "delete_reason"})
EXPORT_HEADER = [name for name, _ in EXPORT_COLUMNS if name not in OPS_ONLY_COLUMNS]
EXPORT_LABELS = {
    "number": "Number", "country": "Country", "sku": "SKU", "state": "State",
    "capabilities": "Features", "golden": "Golden", "ported_in": "Ported in", "tags": "Tags",
    "reserved_for": "Reserved for", "expires_at": "Ends", "organization": "Held by",
    "organization_uuid": "Held by (uuid)", "subscription": "Subscription (uuid)",
    "package": "Plan", "state_changed_at": "In state since",
    "routing_reachable": "Reachable",
}


@partner_view
def export(request: PartnerRequest) -> HttpResponseBase:
    filterset = _filterset(request)
    fmt = request.GET.get("format", "csv").lower()
    if fmt not in ("csv", "xlsx"):
        return HttpResponse("format must be csv or xlsx", status=400, content_type="text/plain")
    queryset = filterset.qs  # evaluating the filters may add errors (e.g. a bad pattern)
    if filterset.form.errors:
        errors = "; ".join(f"{f}: {' '.join(e)}" for f, e in filterset.form.errors.items())
        return HttpResponse(f"Invalid filter: {errors}", status=400, content_type="text/plain")
    name = f"numbers-{slugify(request.partner.name)}-{timezone.localdate():%Y%m%d}.{fmt}"
    # The ops export's own writers (streamed CSV, write-only XLSX, formula neutralisation),
    # limited to the columns a partner may see.
    if fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(queryset, columns=EXPORT_HEADER,
                                                    labels=EXPORT_LABELS),
                                         content_type=CONTENT_TYPES["csv"])
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    try:
        write_xlsx(queryset, handle, columns=EXPORT_HEADER, labels=EXPORT_LABELS)
    except ExportError as exc:
        handle.close()
        return HttpResponse(f"{exc}: export CSV or narrow the filter", status=400,
                            content_type="text/plain")
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=name,
                        content_type=CONTENT_TYPES["xlsx"])
