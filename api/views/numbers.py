"""Numbers: list, detail, edit, add, the bulk life-cycle actions, next-available, export, summary.
Every write is one call of an inventory service, acting as the key's service user."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from inventory import exports
from inventory.choices import Action as A
from inventory.choices import NumberState, ReservationStatus, action_permission
from inventory.filters import NumberFilterSet
from inventory.models import PhoneNumber, Reservation
from inventory.services import (
    NoNumberAvailable,
    number_add,
    number_assign,
    number_delete,
    number_extend,
    number_lock,
    number_next_available,
    number_recover,
    number_release,
    number_reserve,
    number_set_reserved_for,
    number_unlock,
    number_update_attributes,
)

from .. import examples as ex
from .. import serializers as s
from ..errors import Conflict, PreconditionFailed
from ..idempotency import idempotent
from ..scope import PARTNER_EXPORT_COLUMNS, is_partner, numbers_for
from .common import ApiView, BoundedCursorPagination, bulk_result, e164s, paginated

PARTNER_FILTERS_REFUSED = ("vendor", "routing")


# --- list ----------------------------------------------------------------------------------

class NumberCursorPagination(BoundedCursorPagination):
    ordering = "e164"


def _fields(request) -> list[str] | None:
    raw = request.query_params.get("fields")
    if not raw:
        return None
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    known = set(s.NumberDetailOut().fields)
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise exceptions.ValidationError({"fields": [f"Unknown fields: {', '.join(unknown)}."]})
    return wanted


def _filtered(view, request):
    if is_partner(request):
        refused = [f for f in PARTNER_FILTERS_REFUSED if f in request.query_params]
        if refused:
            raise exceptions.ValidationError({f: ["Not a filter for partner keys."] for f in refused})
    return DjangoFilterBackend().filter_queryset(request, numbers_for(request), view)


FIELDS_PARAM = OpenApiParameter("fields", OpenApiTypes.STR, description="Comma-separated fields to keep")
# Free text, not an enum: the FilterSet also takes the seeds' words, case-insensitively
# (inventory.choices.state_from_word); anything else is a 400 naming the accepted words.
STATE_PARAM = OpenApiParameter(
    "state", OpenApiTypes.STR, many=True, explode=True, style="form",
    description="States (repeat for several): " + ", ".join(f"`{v}`" for v in NumberState.values)
    + "; or the seeds' words, any case: `In stock` (available), `Active` and `Used` (assigned), "
    "`Blocked` (locked), `Hold`, `Archive` (deleted with reason archived).",
    examples=[OpenApiExample("state", value=["available"]),
              OpenApiExample("seed word", value=["In stock"])])


class NumberList(ApiView):
    permissions = {"GET": "inventory.view_phonenumber"}
    filter_backends = [DjangoFilterBackend]
    filterset_class = NumberFilterSet
    pagination_class = NumberCursorPagination

    def get_queryset(self):
        return numbers_for(self.request)

    @extend_schema(operation_id="numbers_list", parameters=[FIELDS_PARAM, STATE_PARAM], tags=["numbers"],
                   responses=s.NumberOut(many=True), examples=[ex.response("page", ex.NUMBER)],
                   summary="Numbers, filtered (NumberFilterSet) and cursor-paginated")
    def get(self, request):
        return paginated(self, request, _filtered(self, request), s.NumberOut, fields=_fields(request),
                         partner=is_partner(request))


# --- one number ----------------------------------------------------------------------------

def _detail(request, number: PhoneNumber) -> dict:
    # The current reservation or lock, read by NumberDetailOut.
    number.reservation = (  # type: ignore[attr-defined]
        Reservation.objects.filter(number=number, status=ReservationStatus.ACTIVE)
        .select_related("organization", "did_reservation").order_by("-starts_at").first())
    return s.NumberDetailOut(number, partner=is_partner(request)).data


def _etag(data: dict) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


class NumberDetail(ApiView):
    permissions = {"GET": "inventory.view_phonenumber", "PATCH": "inventory.change_phonenumber"}
    extra_errors = {"PATCH": (412,)}

    @extend_schema(operation_id="numbers_retrieve", parameters=[FIELDS_PARAM], tags=["numbers"],
                   responses=s.NumberDetailOut, examples=[ex.response("reserved", ex.NUMBER_DETAIL)],
                   summary="One number with its current reservation; ETag for If-Match")
    def get(self, request, e164: str):
        number = get_object_or_404(numbers_for(request), e164=e164)
        data = _detail(request, number)
        fields = _fields(request)
        shown = {k: v for k, v in data.items() if k in fields} if fields else data
        return Response(shown, headers={"ETag": _etag(data)})

    @extend_schema(operation_id="numbers_update", tags=["numbers"], request=s.NumberPatch,
                   parameters=[OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
                                                description="The ETag read; 412 if it changed")],
                   responses=s.NumberDetailOut,
                   examples=[ex.request("retag", {"tags": ["vip", "sales"], "remark": "CRM sync"}),
                             ex.response("edited", ex.NUMBER_DETAIL)],
                   summary="Edit descriptive fields (never the state)")
    @idempotent
    def patch(self, request, e164: str):
        body = s.NumberPatch(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        remark = changes.pop("remark")
        if "visible_to" in changes and changes["visible_to"] is not None:
            changes["visible_to"] = str(changes["visible_to"])
        with transaction.atomic():
            number = get_object_or_404(numbers_for(request).select_for_update(of=("self",)), e164=e164)
            wanted = request.META.get("HTTP_IF_MATCH")
            if wanted and wanted.strip() not in ("*", _etag(_detail(request, number))):
                raise PreconditionFailed()
            number_update_attributes(numbers=[number], changes=changes, actor=request.user,
                                     remark=remark)
        number = numbers_for(request).get(pk=number.pk)
        data = _detail(request, number)
        return Response(data, headers={"ETag": _etag(data)})


# --- add and the life cycle ----------------------------------------------------------------

BULK_EXAMPLE = OpenApiExample("result", response_only=True, value={
    "done": ["+6560000001"], "unchanged": ["+6560000002"],
    "refused": {"+6560000003": "already reserved by Beta Customer"}})


class NumberAdd(ApiView):
    permissions = {"POST": "inventory.add_phonenumber"}

    @extend_schema(operation_id="numbers_add", tags=["numbers"], request=s.NumberAdd,
                   responses={200: OpenApiResponse(s.BulkResult, examples=[BULK_EXAMPLE])},
                   examples=[OpenApiExample("a range", request_only=True, value={
                       "numbers": "+6560000000-+6560000099", "vendor": "Singtel Wholesale",
                       "sku": "SG-DID-STD"})],
                   summary="Add numbers (singles and ranges, at most 10,000)")
    @idempotent
    def post(self, request):
        body = s.NumberAdd(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        spec = data.pop("numbers")
        if isinstance(spec, list):
            spec = ",".join(spec)
        result = number_add(numbers=spec, actor=request.user, max_items=s.MAX_BULK,
                            max_range=s.MAX_BULK, **data)
        return Response(bulk_result(result))


ACTIONS = {
    # action → (permission the admin checks, the service call from the validated body)
    "reserve": (action_permission(A.RESERVE), lambda n, b, a: number_reserve(
        numbers=n, organization=b["organization"], reserved_for=b.get("reserved_for"), actor=a,
        remark=b["remark"])),
    "lock": (action_permission(A.LOCK), lambda n, b, a: number_lock(numbers=n, actor=a, remark=b["remark"])),
    "unlock": (action_permission(A.UNLOCK),
               lambda n, b, a: number_unlock(numbers=n, actor=a, remark=b["remark"])),
    "assign": (action_permission(A.ASSIGN), lambda n, b, a: number_assign(
        numbers=n, subscription=b["subscription"], actor=a, remark=b["remark"])),
    "release": (action_permission(A.RELEASE),
                lambda n, b, a: number_release(numbers=n, actor=a, remark=b["remark"])),
    "extend": (action_permission(A.EXTEND), lambda n, b, a: number_extend(
        numbers=n, did_reservation=b["did_reservation"], actor=a, remark=b["remark"])),
    "delete": (action_permission(A.DELETE), lambda n, b, a: number_delete(
        numbers=n, reason=b["reason"], actor=a, remark=b["remark"])),
    "recover": (action_permission(A.RECOVER),
                lambda n, b, a: number_recover(numbers=n, actor=a, remark=b["remark"])),
    "set-reserved-for": (action_permission(A.SET_RESERVED_FOR), lambda n, b, a: number_set_reserved_for(
        numbers=n, reserved_for=b["reserved_for"], actor=a, remark=b["remark"])),
}


def _action_view(action: str) -> type[ApiView]:
    """One view per action, so each has its own operation id and permission in the schema."""
    codename, call = ACTIONS[action]
    op = action.replace("-", "_")

    class NumberAction(ApiView):
        permissions = {"POST": codename}

        @extend_schema(operation_id=f"numbers_{op}", tags=["numbers"], request=s.BulkAction,
                       responses={200: OpenApiResponse(s.BulkResult, examples=[BULK_EXAMPLE])},
                       examples=[OpenApiExample(action, request_only=True, value={
                           "numbers": ["+6560000001", "+6560000002"], "remark": "order 4711",
                           **({"organization": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}
                              if action == "reserve" else {})})],
                       summary=f"{action.capitalize()} up to 10,000 numbers in one transaction "
                               f"(needs {codename})")
        @idempotent
        def post(self, request):
            body = s.BulkAction(data=request.data, context={"action": action})
            body.is_valid(raise_exception=True)
            numbers = list(dict.fromkeys(body.validated_data["numbers"]))
            result = call(numbers, body.validated_data, request.user)
            return Response(bulk_result(result, numbers))

    NumberAction.__name__ = NumberAction.__qualname__ = f"Number{op.title().replace('_', '')}Action"
    return NumberAction


ACTION_VIEWS = {action: _action_view(action) for action in ACTIONS}

NEXT_FILTERS = {"pattern": "pattern", "country": "country", "sku": "sku__code", "vendor": "vendor__name"}


class NumberNextAvailable(ApiView):
    permissions = {"POST": "inventory.assign_number"}

    @extend_schema(operation_id="numbers_next_available", tags=["numbers"], request=s.NextAvailable,
                   responses=s.NextAvailableResult,
                   examples=[ex.request("two Singapore numbers", {
                       "subscription": ex.SUB, "count": 2, "country": "SG", "remark": "order 4712"}),
                       ex.response("allocated", {"numbers": [{**ex.NUMBER, "state": "assigned",
                                                              "subscription": ex.SUB}]})],
                   summary="Allocate up to 100 free numbers to a subscription (all or none)")
    @idempotent
    def post(self, request):
        body = s.NextAvailable(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        filters = {NEXT_FILTERS[k]: (v.upper() if k == "country" else v)
                   for k, v in data.items() if k in NEXT_FILTERS}
        try:
            allocated = number_next_available(
                subscription=data["subscription"], actor=request.user, remark=data["remark"],
                count=data["count"], **filters)
        except NoNumberAvailable as exc:
            raise Conflict(exc.messages[0]) from None
        numbers = numbers_for(request).filter(pk__in=[n.pk for n in allocated]).order_by("e164")
        return Response({"numbers": s.NumberOut(numbers, many=True).data})


# --- export and summary --------------------------------------------------------------------

class NumberExport(ApiView):
    permissions = {"GET": "inventory.export_phonenumber"}
    filter_backends = [DjangoFilterBackend]
    filterset_class = NumberFilterSet

    def get_queryset(self):
        return numbers_for(self.request)

    @extend_schema(operation_id="numbers_export", tags=["numbers"],
                   parameters=[OpenApiParameter("format", str, enum=["csv", "xlsx"], default="csv"),
                               STATE_PARAM],
                   responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, examples=[
                       ex.response("csv", ex.CSV)]),
                              (200, exports.CONTENT_TYPES["xlsx"]): OpenApiResponse(
                                  OpenApiTypes.BINARY, examples=[ex.response("xlsx", "<XLSX bytes>")])},
                   summary="The filtered numbers as CSV (streamed) or XLSX")
    def get(self, request):
        fmt = request.query_params.get("format", "csv")
        if fmt not in exports.CONTENT_TYPES:
            raise exceptions.ValidationError({"format": ["csv or xlsx."]})
        queryset = _filtered(self, request).order_by("e164")
        columns = PARTNER_EXPORT_COLUMNS if is_partner(request) else None
        filename = exports.export_filename(fmt)
        if fmt == "csv":
            response = StreamingHttpResponse(exports.csv_chunks(queryset, columns=columns),
                                             content_type=exports.CONTENT_TYPES["csv"])
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        bound = int(settings.NUMBERMGMT.get("EXPORT_XLSX_MAX_ROWS", 200_000))
        if queryset.order_by()[: bound + 1].count() > bound:
            raise exceptions.ValidationError({"format": [
                f"More than {bound:,} numbers: too many for XLSX; export CSV or narrow the filter."]})
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
        exports.write_xlsx(queryset, spool, columns=columns)
        spool.seek(0)
        return FileResponse(spool, as_attachment=True, filename=filename,
                            content_type=exports.CONTENT_TYPES["xlsx"])


class Summary(ApiView):
    permissions = {"GET": "inventory.view_phonenumber"}

    @extend_schema(operation_id="summary_retrieve", tags=["numbers"], responses=s.SummaryOut,
                   examples=[ex.response("counts", {
                       "by_state": {"available": 900, "reserved": 100},
                       "by_vendor": {"Singtel Wholesale": {"available": 900, "reserved": 100}},
                       "by_country": {"SG": {"available": 900, "reserved": 100}}})],
                   summary="Counts by state, by vendor × state and by country × state")
    def get(self, request):
        partner = is_partner(request)
        rows = numbers_for(request).select_related(None).order_by().values_list(
            "state", "country", "vendor__name").annotate(n=Count("id"))
        by_state: dict[str, int] = defaultdict(int)
        by_vendor: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        by_country: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for state, country, vendor, n in rows:
            by_state[state] += n
            by_country[country][state] += n
            by_vendor[vendor][state] += n
        body = {"by_state": dict(by_state), "by_country": {k: dict(v) for k, v in by_country.items()}}
        if not partner:
            body["by_vendor"] = {k: dict(v) for k, v in by_vendor.items()}
        return Response(body)


__all__ = ["ACTION_VIEWS", "NumberAdd", "NumberDetail", "NumberExport", "NumberList",
           "NumberNextAvailable", "Summary", "e164s"]
