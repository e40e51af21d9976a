"""Idempotency-Key on POST and PATCH (DESIGN §9).

The same key with the same request replays the stored answer (status, body, headers) and
changes nothing more; the same key with another request is a 422; a twin arriving while the
first is still running gets a 409. The "running" row is inserted in its own short
transaction, so the unique (api_key, key) constraint decides between concurrent twins; the
answer is stored in the same transaction as the change it reports. Keys live 24 hours.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.response import Response

from .errors import Conflict, Unprocessable
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEEP = dt.timedelta(hours=24)
MAX_KEY = 255
REPLAYED_HEADERS = ("ETag", "Location")


def _canonical(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "sha256": digest.hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_hash(request) -> str:
    """What makes two requests "the same": method, path, query, If-Match and the parsed body
    (so a multipart boundary or JSON key order does not matter)."""
    data = request.data
    if hasattr(data, "lists"):  # QueryDict / MultiValueDict: keep repeated fields
        data = {k: v if len(v) > 1 else v[0] for k, v in data.lists()}
    if hasattr(request, "FILES") and request.FILES:
        data = {**data, **{k: request.FILES[k] for k in request.FILES}}
    payload = [request.method, request.path, request.META.get("QUERY_STRING", ""),
               request.META.get("HTTP_IF_MATCH", ""), _canonical(data)]
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(record: IdempotencyRecord, digest: str) -> Response:
    if record.request_hash != digest:
        raise Unprocessable(f"The Idempotency-Key {record.key!r} was used with another request; "
                            "use a new key for a new request.")
    if record.status_code is None:
        raise Conflict(f"A request with the Idempotency-Key {record.key!r} is still running; "
                       "retry later for its answer.")
    headers = {**record.headers, "Idempotent-Replayed": "true"}
    content_type = record.headers.get("Content-Type")
    headers.pop("Content-Type", None)
    return Response(record.body, status=record.status_code, headers=headers, content_type=content_type)


def run_idempotent(request, handler: Callable[[], Response]) -> Response:
    key_value = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key_value is None:
        return handler()
    key_value = key_value.strip()
    if not key_value or len(key_value) > MAX_KEY:
        raise exceptions.ValidationError({HEADER: [f"1 to {MAX_KEY} characters."]})
    api_key = request.auth
    now = timezone.now()
    digest = request_hash(request)
    records = IdempotencyRecord.objects.filter(api_key=api_key)
    records.filter(created_at__lt=now - KEEP).delete()  # expired keys may be used again
    try:
        with transaction.atomic():
            record = records.create(api_key=api_key, key=key_value, request_hash=digest, created_at=now)
    except IntegrityError:
        existing = records.filter(key=key_value).first()
        if existing is None:  # it expired or failed between the insert and this read
            raise Conflict("A request with this Idempotency-Key just finished or failed; retry.") from None
        return _replay(existing, digest)
    try:
        with transaction.atomic():
            response = handler()
            if response.status_code >= 500 or not isinstance(response, Response):
                raise _NotStored(response)
            headers = {h: response[h] for h in REPLAYED_HEADERS if response.has_header(h)}
            if response.content_type:
                headers["Content-Type"] = response.content_type
            record.status_code = response.status_code
            record.body = response.data
            record.headers = headers
            record.save(update_fields=["status_code", "body", "headers"])
            return response
    except _NotStored as not_stored:
        record.delete()
        return not_stored.response
    except BaseException:
        record.delete()  # nothing was changed (the change rolled back): the key may be retried
        raise


class _NotStored(Exception):
    def __init__(self, response):
        super().__init__()
        self.response = response


def idempotent(method: Callable) -> Callable:
    """Decorate a view's post/patch."""

    @functools.wraps(method)
    def wrapper(self, request, *args, **kwargs):
        return run_idempotent(request, lambda: method(self, request, *args, **kwargs))

    return wrapper
