"""Project-level views: the health check and the error pages."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from ops.selectors import health_checks


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For the load balancer and ops: database, broker, and the worker's and beat's
    heartbeats with their age; 503 when any is down or stale (a dead worker is not "ok")."""
    checks = health_checks()
    healthy = all(check.ok for check in checks)
    body: dict[str, object] = {"status": "ok" if healthy else "error"}
    for check in checks:
        body[check.name] = check.status
        if check.age_seconds is not None:
            body[f"{check.name}_age_seconds"] = check.age_seconds
    return JsonResponse(body, status=200 if healthy else 503)
