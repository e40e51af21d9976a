"""Import and export in the admin: a mixin that PhoneNumberAdmin puts first in its bases.

Thin: the pages upload a file into an ImportJob, show its preview and progress, and hand
the work to inventory.imports (which calls the services); the export streams exactly the
change list's queryset (tab, filters and search) through inventory.exports.

URL names (namespace "admin"): inventory_phonenumber_import (upload),
inventory_phonenumber_import_job (uuid: preview, progress, result),
inventory_phonenumber_import_confirm (uuid, POST), inventory_phonenumber_import_progress
(uuid, JSON), inventory_phonenumber_import_errors (uuid: the error report, CSV),
inventory_phonenumber_export (fmt: csv or xlsx; the change list's query string).
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import phonenumbers
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse

from . import exports, files
from .choices import ImportJobStatus as J
from .models import ImportJob
from .services import ServiceError, import_job_confirm, import_job_start
from .tasks import import_job_dispatch

PREVIEW_ERRORS = 100  # refused rows listed on the preview page; the error report has all


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="CSV (any delimiter, UTF-8 or Latin-1), XLSX or XLS, with a header row: "
                  "number, country, vendor, sku, and optionally state, capabilities, routing, "
                  "golden, ported_in, tags, notes, visible_to, reserved_for, expires_at, "
                  "organization, subscription.",
    )
    country = forms.CharField(
        label="Default country", max_length=2, required=False,
        help_text="For numbers written without + and country code in rows that have no country.",
    )
    valid_only = forms.BooleanField(
        label="Import only the valid rows", required=False,
        help_text="By default the import is all or nothing: if any row is refused, nothing is "
                  "imported. Tick to import the valid rows and skip the refused ones.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            files.check_size(upload.size)
        except files.ImportFileError as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload

    def clean_country(self):
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and country not in phonenumbers.SUPPORTED_REGIONS:
            raise forms.ValidationError(f"{country} is not an ISO 3166 country code.")
        return country


class NumberImportExportMixin:
    """Upload → preview (counts and refused rows) → confirm; big files in the background."""

    import_template = "admin/inventory/phonenumber/import.html"
    import_job_template = "admin/inventory/phonenumber/import_job.html"
    change_list_wrapper_template = "admin/inventory/phonenumber/import_export_change_list.html"

    # --- permissions (django-import-export's codenames: import_phonenumber, export_phonenumber)

    def _has_codename(self, request, setting: str, default: str) -> bool:
        action = getattr(settings, setting, None) or default
        codename = get_permission_codename(action, self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def has_import_permission(self, request) -> bool:
        return self._has_codename(request, "IMPORT_EXPORT_IMPORT_PERMISSION_CODE", "import")

    def has_export_permission(self, request) -> bool:
        return self._has_codename(request, "IMPORT_EXPORT_EXPORT_PERMISSION_CODE", "export")

    # --- urls -------------------------------------------------------------------------

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        mine = [
            path("import/", wrap(self.import_view), name=f"{prefix}_import"),
            path("import/<uuid:job>/", wrap(self.import_job_view), name=f"{prefix}_import_job"),
            path("import/<uuid:job>/confirm/", wrap(self.import_confirm_view),
                 name=f"{prefix}_import_confirm"),
            path("import/<uuid:job>/progress/", wrap(self.import_progress_view),
                 name=f"{prefix}_import_progress"),
            path("import/<uuid:job>/errors.csv", wrap(self.import_errors_view),
                 name=f"{prefix}_import_errors"),
            path("export/<str:fmt>/", wrap(self.export_view), name=f"{prefix}_export"),
        ]
        return mine + super().get_urls()

    def _url(self, name: str, *args) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_{name}", args=args)

    # --- the change list: Import and Export buttons --------------------------------------

    def changelist_view(self, request, extra_context=None):
        """Wrap whatever change list template is in use with one that adds the buttons."""
        response = super().changelist_view(request, extra_context)
        names = getattr(response, "template_name", None)
        if not isinstance(response, TemplateResponse) or names == self.change_list_wrapper_template:
            return response
        base = select_template([names] if isinstance(names, str) else list(names))
        response.template_name = self.change_list_wrapper_template
        query = request.GET.copy()
        for key in ("p", "e", "all"):
            query.pop(key, None)
        encoded = query.urlencode()
        response.context_data.update({
            "import_export_base": base.template,
            "import_url": self._url("import") if self.has_import_permission(request) else "",
            "export_urls": [
                (fmt.upper(), self._url("export", fmt) + (f"?{encoded}" if encoded else ""))
                for fmt in ("csv", "xlsx")
            ] if self.has_export_permission(request) else [],
        })
        return response

    # --- export -------------------------------------------------------------------------

    def get_export_queryset(self, request):
        """Exactly what the change list shows for this query string: tab, filters, search."""
        changelist = self.get_changelist_instance(request)
        return changelist.queryset

    def export_view(self, request, fmt: str):
        if not self.has_export_permission(request):
            raise PermissionDenied
        if fmt not in exports.CONTENT_TYPES:
            raise Http404("Export as csv or xlsx.")
        try:
            queryset = self.get_export_queryset(request)
        except IncorrectLookupParameters:
            messages.error(request, "The export's filters are not valid; open the list again.")
            return HttpResponseRedirect(self._url("changelist"))
        state = request.GET.get("state", "")
        filename = exports.export_filename(fmt, f"numbers-{state}" if state else "numbers")
        if fmt == "csv":
            response = StreamingHttpResponse(exports.csv_chunks(queryset),
                                             content_type=exports.CONTENT_TYPES["csv"])
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        bound = int(settings.NUMBERMGMT.get("EXPORT_XLSX_MAX_ROWS", 200_000))
        if queryset.order_by()[: bound + 1].count() > bound:
            # openpyxl writes ~3,000 rows/s: beyond this a browser request would time out.
            messages.error(request, f"More than {bound:,} numbers: too many for an XLSX download. "
                                    "Export CSV (any size), or narrow the filter.")
            return HttpResponseRedirect(self._url("changelist") + "?" + request.GET.urlencode())
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
        try:
            exports.write_xlsx(queryset, spool)
        except exports.ExportError as exc:
            spool.close()
            messages.error(request, str(exc))
            return HttpResponseRedirect(self._url("changelist") + "?" + request.GET.urlencode())
        spool.seek(0)
        return FileResponse(spool, as_attachment=True, filename=filename,
                            content_type=exports.CONTENT_TYPES["xlsx"])

    # --- import -------------------------------------------------------------------------

    def _context(self, request, title: str, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": title,
            "has_view_permission": self.has_view_permission(request),
            "changelist_url": self._url("changelist"),
            "import_url": self._url("import"),
            **extra,
        }

    def _job(self, request, job_uuid) -> ImportJob:
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, uuid=job_uuid)
        if job.created_by_id != request.user.pk and not request.user.is_superuser:
            raise PermissionDenied  # someone else's upload
        return job

    def import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        default_country = settings.NUMBERMGMT.get("DEFAULT_COUNTRY", "")
        if request.method == "POST":
            form = ImportUploadForm(request.POST, request.FILES)
            if form.is_valid():
                job = self._start_job(request, form)
                if job is not None:
                    return HttpResponseRedirect(self._url("import_job", job.uuid))
        else:
            form = ImportUploadForm(initial={"country": default_country})
        recent = ImportJob.objects.filter(created_by=request.user).order_by("-created_at")[:10]
        context = self._context(request, "Import numbers", form=form, recent_jobs=recent,
                                limits=files.limits(),
                                max_mb=files.limits()["max_bytes"] // files.MB)
        return TemplateResponse(request, self.import_template, context)

    def _start_job(self, request, form) -> ImportJob | None:
        try:
            job = import_job_start(upload=form.cleaned_data["file"], country=form.cleaned_data["country"],
                                   all_or_nothing=not form.cleaned_data["valid_only"], actor=request.user)
        except ServiceError as exc:
            form.add_error("file", " ".join(exc.messages))
            return None
        if import_job_dispatch(job=job, confirm=False):
            messages.info(request, f"{job.original_name}: about {job.total_rows:,} rows, checked in "
                                   "the background. This page follows its progress.")
        return job

    def import_job_view(self, request, job):
        job = self._job(request, job)
        errors: list[list[str]] = []
        if job.error_file:
            with job.error_file.open("rb") as raw:
                lines = (line.decode("utf-8-sig", "replace") for line in raw)
                reader = csv.reader(lines)
                next(reader, None)
                for row in reader:
                    if len(row) == 4 and row[3][:1] == "'" and row[3][1:2] in exports.FORMULA_START:
                        row[3] = row[3][1:]  # the file is neutralised for spreadsheets; HTML escapes
                    errors.append(row)
                    if len(errors) >= PREVIEW_ERRORS:
                        break
        queued_import = job.status == J.PREVIEWED and job.confirmed_at is not None
        context = self._context(
            request, f"Import {job.original_name}", job=job, errors=errors,
            more_errors=max(job.rejected_count - len(errors), 0) if errors else 0,
            valid_rows=job.created_count + job.updated_count + job.unchanged_count,
            working=job.status in (J.PENDING, J.RUNNING) or queued_import,
            phase="import" if job.confirmed_at else "preview",
            can_confirm=job.status == J.PREVIEWED and job.confirmed_at is None,
            progress_url=self._url("import_progress", job.uuid),
            confirm_url=self._url("import_confirm", job.uuid),
            errors_url=self._url("import_errors", job.uuid) if job.error_file else "",
        )
        return TemplateResponse(request, self.import_job_template, context)

    def import_confirm_view(self, request, job):
        job = self._job(request, job)
        here = self._url("import_job", job.uuid)
        if request.method != "POST":
            return HttpResponseRedirect(here)
        try:
            job = import_job_confirm(job=job, actor=request.user,
                                     all_or_nothing=not request.POST.get("valid_only"))
        except ServiceError as exc:
            messages.error(request, " ".join(exc.messages))
            return HttpResponseRedirect(here)
        if import_job_dispatch(job=job, confirm=True):
            messages.info(request, f"{job.original_name}: importing in the background.")
        else:
            job.refresh_from_db()
            level = messages.SUCCESS if job.status == J.DONE else messages.ERROR
            messages.add_message(request, level, job.message)
        return HttpResponseRedirect(here)

    def import_progress_view(self, request, job):
        job = self._job(request, job)
        queued_import = job.status == J.PREVIEWED and job.confirmed_at is not None
        return JsonResponse({
            "status": job.status,
            "status_label": job.get_status_display(),
            "phase": "import" if job.confirmed_at else "preview",
            "working": job.status in (J.PENDING, J.RUNNING) or queued_import,
            "processed": job.processed_rows,
            "total": job.total_rows,
            "percent": job.progress_percent,
            "counts": {"new": job.created_count, "changed": job.updated_count,
                       "unchanged": job.unchanged_count, "refused": job.rejected_count},
            "message": job.message,
        })

    def import_errors_view(self, request, job):
        job = self._job(request, job)
        if not job.error_file:
            raise Http404("This import has no refused rows.")
        name = f"{Path(job.original_name).stem}-errors.csv"
        return FileResponse(job.error_file.open("rb"), as_attachment=True, filename=name,
                            content_type="text/csv; charset=utf-8")


__all__ = ["ImportUploadForm", "NumberImportExportMixin"]
