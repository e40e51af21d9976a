"""RFC 9457 problem+json for every error the API answers: one exception handler for DRF's own
errors (validation, 401/403/404/405/406/415, parse errors, throttling) and the services'."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM = "application/problem+json"
TYPE_BASE = "https://numbermgmt.example/problems/"
TITLES = {
    400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 412: "Precondition failed",
    413: "Request too large", 415: "Unsupported media type", 422: "Unprocessable content",
    428: "Precondition required", 429: "Too many requests", 501: "Not implemented",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "Unprocessable content."
    default_code = "unprocessable"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The number changed since you read it (ETag mismatch); read it again."
    default_code = "precondition_failed"


class NotImplementedYet(exceptions.APIException):
    status_code = status.HTTP_501_NOT_IMPLEMENTED
    default_detail = "Not implemented yet."
    default_code = "not_implemented"


def problem(status_code: int, detail: str, *, errors: dict[str, list[str]] | None = None,
            code: str = "", headers: dict[str, str] | None = None) -> Response:
    """A problem+json response (also used by views that answer an error directly)."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + (code or TITLES.get(status_code, "error").lower().replace(" ", "-")),
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "errors": errors or {},
    }
    return Response(body, status=status_code, content_type=PROBLEM, headers=headers)


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → {"field" or "field.sub" or "numbers[3]": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or str(key).isdigit():  # a list field's item
                out.update(_flatten(value, f"{prefix}[{key}]"))
                continue
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            out.update(_flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name))
    elif isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            out.setdefault(prefix, []).extend(str(v) for v in detail)
        else:
            for i, value in enumerate(detail):
                if value:
                    out.update(_flatten(value, f"{prefix}[{i}]"))
    else:
        out.setdefault(prefix, []).append(str(detail))
    return out


def _detail_text(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{k}: {' '.join(v)}" if k else " ".join(v) for k, v in errors.items())


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        return problem(413, str(exc) or "The request body is too large.")
    if isinstance(exc, DjangoValidationError):
        errors = (_flatten(exc.message_dict) if hasattr(exc, "error_dict")
                  else {"": [str(m) for m in exc.messages]})
        return problem(400, _detail_text(errors), errors=errors, code="invalid")
    if isinstance(exc, SuspiciousOperation):
        return problem(400, str(exc) or "Bad request.")
    if isinstance(exc, Http404 | DjangoPermissionDenied):
        pass  # DRF maps these itself
    response = exception_handler(exc, context)
    if response is None:
        return None  # a bug: let Django answer 500 and log it
    detail = getattr(exc, "detail", None)
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(detail)
        text = _detail_text(errors)
        code = "invalid"
    else:
        errors, text = {}, str(detail if detail is not None else exc)
        code = getattr(exc, "default_code", "") if isinstance(exc, exceptions.APIException) else ""
        if isinstance(exc, Http404):
            text, code = "Not found.", "not-found"
    headers = {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")}
    return problem(response.status_code, text, errors=errors, code=str(code).replace("_", "-"),
                   headers=headers)
