"""Shared view plumbing: the base view, result mapping, examples."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.services import TransitionResult


class ApiView(APIView):
    """An endpoint: `permissions` maps a method to the model permission the admin checks."""

    permissions: dict[str, str] = {}
    partner_allowed = True

    def required_permission(self, request) -> str | None:
        return self.permissions.get(request.method)


def e164s(numbers: Iterable) -> list[str]:
    return [n.e164 for n in numbers]


def bulk_result(result: TransitionResult, requested: Iterable[str] = ()) -> dict:
    """TransitionResult → {"done", "unchanged", "refused"}; a requested number that does not
    exist is refused with that reason (the services skip unknown numbers silently)."""
    done, unchanged = e164s(result.done), e164s(result.unchanged)
    refused = dict(result.rejected)
    seen = {*done, *unchanged, *refused}
    for e164 in requested:
        if e164 not in seen:
            refused[e164] = "no such number"
            seen.add(e164)
    return {"done": done, "unchanged": unchanged, "refused": refused}


NEXT_EXAMPLE = "https://numbermgmt.example/api/v1/numbers/?cursor=cD0lMkI2NTYwMDAwMDAx&limit=100"


class BoundedCursorPagination(CursorPagination):
    """Cursor pages (no count: cheap at 10M rows), `limit` 1 to 1,000, a `next` link."""

    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000
    cursor_query_description = "The `next` link's cursor"
    page_size_query_description = "Items per page, 1 to 1,000 (default 100)"

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError({"limit": [f"1 to {self.max_page_size:,}."]})
        return size

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Not a cursor from a `next` link."]}) from None

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {"type": "object", "required": ["next", "results"], "properties": {
            "next": {"type": ["string", "null"], "format": "uri", "example": NEXT_EXAMPLE},
            "results": schema}}


def paginated(view, request, queryset, serializer, **kwargs) -> Response:
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True, **kwargs).data)
