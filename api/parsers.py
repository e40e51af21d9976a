"""Request bodies are bounded before they are parsed (API_MAX_BODY_BYTES)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser, MultiPartParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def check_length(request, bound: int) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise exceptions.ParseError("Content-Length is not a number.") from None
    if length > bound:
        raise RequestTooLarge(f"The body has {length:,} bytes; at most {bound:,} are accepted.")


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        check_length(parser_context["request"], settings.API_MAX_BODY_BYTES)
        return super().parse(stream, media_type, parser_context)


class BoundedMultiPartParser(MultiPartParser):
    """Uploads: the admin's import bound (IMPORT_MAX_BYTES) plus a little for the form fields."""

    def parse(self, stream, media_type=None, parser_context=None):
        check_length(parser_context["request"], settings.NUMBERMGMT["IMPORT_MAX_BYTES"] + 64 * 1024)
        return super().parse(stream, media_type, parser_context)
