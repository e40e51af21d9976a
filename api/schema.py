"""The OpenAPI 3.1 schema: the Bearer scheme, the Idempotency-Key header, and every error
each operation can answer (problem+json with examples), added once here for all views."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from .errors import PROBLEM, TITLES, TYPE_BASE
from .serializers import ProblemOut

EXAMPLE_DETAILS = {
    400: ("invalid", "numbers[0]: '+65123': not in E.164 form (+ and 7 to 15 digits)",
          {"numbers[0]": ["'+65123': not in E.164 form (+ and 7 to 15 digits)"]}),
    401: ("not-authenticated", "Authentication credentials were not provided.", {}),
    403: ("permission-denied", "The key billing lacks the permission inventory.reserve_number.", {}),
    404: ("not-found", "Not found.", {}),
    405: ("method-not-allowed", 'Method "PUT" not allowed.', {}),
    406: ("not-acceptable", "Could not satisfy the request Accept header.", {}),
    409: ("conflict", "A request with the Idempotency-Key 'a1' is still running; retry later.", {}),
    412: ("precondition-failed", "The number changed since you read it (ETag mismatch).", {}),
    413: ("too-large", "The body has 3,000,000 bytes; at most 2,097,152 are accepted.", {}),
    415: ("unsupported-media-type", 'Unsupported media type "text/plain" in request.', {}),
    422: ("unprocessable", "The Idempotency-Key 'a1' was used with another request.", {}),
    429: ("throttled", "Request was throttled. Expected available in 12 seconds.", {}),
    501: ("not-implemented", "set-reserved-for lands with the seed-parity work.", {}),
}


def problem_response(code: int, description: str = "") -> OpenApiResponse:
    slug, detail, errors = EXAMPLE_DETAILS[code]
    example = {"type": TYPE_BASE + slug, "title": TITLES[code], "status": code, "detail": detail,
               "errors": errors}
    return OpenApiResponse(ProblemOut, description=description or TITLES[code],
                           examples=[OpenApiExample(TITLES[code], value=example,
                                                    response_only=True, status_codes=[str(code)])])


class BearerAuthScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerApiKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API key from `manage.py create_api_key` or the admin."}


class ApiAutoSchema(AutoSchema):
    """Adds the errors every operation can give; a view adds its own with `extra_errors`."""

    def _error_codes(self) -> list[int]:
        codes = [401, 403, 406, 429]
        if self.method in ("POST", "PATCH", "PUT"):
            codes += [400, 409, 413, 415, 422]
        elif self.method == "GET" and (self._is_list_view() or self.view.__class__.__name__.startswith(
                ("NumberList", "NumberExport"))):
            codes += [400]
        if "{" in self.path:
            codes.append(404)
        codes += list(getattr(self.view, "extra_errors", {}).get(self.method, ()))
        return sorted(set(codes))

    def _get_response_bodies(self, direction="response"):
        # Not get_response_serializers: @extend_schema(responses=…) overrides that one.
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    problem_response(code), str(code), [PROBLEM], direction)
        return responses

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        params.append(OpenApiParameter("Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER,
                                       response=[429], description="Seconds until the next request"))
        if self.method in ("POST", "PATCH"):
            params.append(OpenApiParameter(
                "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                description="Retry-safe writes: the same key and body replay the stored answer for "
                            "24 hours; another body gives 422; a twin still running gives 409.",
            ))
        return params
