"""Imports: upload (multipart) → a job; its status and progress; its errors.csv; confirm."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from inventory.models import ImportJob
from inventory.services import ServiceError

from .. import examples as ex
from .. import serializers as s
from ..errors import Conflict
from ..idempotency import idempotent
from ..imports import api_import_confirm, api_import_start
from ..parsers import BoundedJSONParser, BoundedMultiPartParser
from .common import ApiView

JOB_EXAMPLE = ex.response("previewed", ex.JOB)


class _ImportView(ApiView):
    partner_allowed = False
    permissions = {"GET": "inventory.import_phonenumber", "POST": "inventory.import_phonenumber"}

    def _job(self, request, job_id) -> ImportJob:
        # Like the admin: a key sees the jobs its own service user uploaded.
        return get_object_or_404(ImportJob, uuid=job_id, created_by=request.user)


class ImportCreate(_ImportView):
    parser_classes = [BoundedMultiPartParser]

    @extend_schema(operation_id="imports_create", tags=["imports"],
                   request={"multipart/form-data": s.ImportIn},
                   examples=[OpenApiExample("preview", request_only=True, media_type="multipart/form-data",
                                            value={"file": "numbers.csv", "dry_run": True, "country": "SG"}),
                             ex.response("previewed", ex.JOB, 201)],
                   responses={201: s.ImportJobOut},
                   summary="Upload a file: preview (dry_run) or import; big files run in the background")
    @idempotent
    def post(self, request):
        body = s.ImportIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        country = (data.get("country") or "").strip().upper()
        if country and not _is_region(country):
            raise exceptions.ValidationError({"country": [f"{country} is not an ISO 3166 country code."]})
        try:
            job = api_import_start(upload=data["file"], actor=request.user, country=country,
                                   valid_only=data["valid_only"], dry_run=data["dry_run"])
        except ServiceError as exc:
            raise exceptions.ValidationError({"file": exc.messages}) from None
        return Response(s.ImportJobOut(job).data, status=201)


def _is_region(country: str) -> bool:
    import phonenumbers

    return country in phonenumbers.SUPPORTED_REGIONS


class ImportDetail(_ImportView):
    @extend_schema(operation_id="imports_retrieve", tags=["imports"],
                   responses=OpenApiResponse(s.ImportJobOut, examples=[JOB_EXAMPLE]),
                   summary="A job's status, counts and progress")
    def get(self, request, job_id):
        return Response(s.ImportJobOut(self._job(request, job_id)).data)


class ImportErrors(_ImportView):
    @extend_schema(operation_id="imports_errors", tags=["imports"],
                   responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, examples=[
                       ex.response("refused rows", "line,number,field,reason\n3,+6560000002,vendor,"
                                                   "unknown vendor: Nobody\n")])},
                   summary="The refused rows as CSV (404 when none)")
    def get(self, request, job_id):
        job = self._job(request, job_id)
        if not job.error_file:
            raise exceptions.NotFound("This import has no refused rows.")
        return FileResponse(job.error_file.open("rb"), as_attachment=True,
                            filename=f"{Path(job.original_name).stem}-errors.csv",
                            content_type="text/csv; charset=utf-8")


class ImportConfirm(_ImportView):
    parser_classes = [BoundedJSONParser]

    @extend_schema(operation_id="imports_confirm", tags=["imports"], request=s.ImportConfirmIn,
                   responses=s.ImportJobOut, summary="Import a previewed job",
                   examples=[ex.request("valid rows only", {"valid_only": True}),
                             ex.response("done", {**ex.JOB, "status": "done", "phase": "import",
                                                  "confirmed_at": "2026-01-05T08:05:00Z",
                                                  "finished_at": "2026-01-05T08:05:02Z"})])
    @idempotent
    def post(self, request, job_id):
        job = self._job(request, job_id)
        body = s.ImportConfirmIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            job = api_import_confirm(job=job, actor=request.user,
                                     valid_only=body.validated_data["valid_only"])
        except ServiceError as exc:
            raise Conflict(" ".join(exc.messages)) from None
        return Response(s.ImportJobOut(job).data)

