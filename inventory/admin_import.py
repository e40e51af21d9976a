"""Import and export in the admin: a mixin that PhoneNumberAdmin puts first in its bases.

Thin: the pages upload a file into an ImportJob, show its preview and progress, and hand
the work to inventory.imports (which calls the services); the export streams exactly the
change list's queryset (tab, filters and search) through inventory.exports.

URL names (namespace "admin"): inventory_phonenumber_import (upload),
inventory_phonenumber_import_mapping (uuid: the column mapping step, for headers the import
does not know), inventory_phonenumber_import_job (uuid: preview, progress, result),
inventory_phonenumber_import_confirm (uuid, POST), inventory_phonenumber_import_progress
(uuid, JSON), inventory_phonenumber_import_errors (uuid: the error report, CSV),
inventory_phonenumber_import_errors_xlsx (uuid: the same report as XLSX),
inventory_phonenumber_export (fmt: csv or xlsx; the change list's query string).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import phonenumbers
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse

from . import exports, files, imports
from .choices import ImportJobStatus as J
from .models import ImportJob, Sku, Vendor
from .services import ServiceError, import_job_confirm, import_job_start
from .services.importing import import_mapping_save
from .tasks import import_job_dispatch

# The export buttons say who each format is for: a spreadsheet that opens a CSV strips the `+`.
EXPORT_BUTTONS = (("csv", "CSV (for systems)"), ("xlsx", "XLSX (for spreadsheets)"))
PREVIEW_ERRORS = 100  # refused rows listed on the preview page; the error report has all


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="CSV (any delimiter, UTF-8 or Latin-1), XLSX or XLS, with a header row: "
                  "number, country, vendor, sku, and optionally state, capabilities, routing, "
                  "golden, ported_in, tags, notes, visible_to, reserved_for, expires_at, "
                  "after_hold, hold_days, organization (Client), subscription — or the seeds' "
                  "names (Phone No., DID, Carrier, Product, Status…). Other headers go to a "
                  "mapping step first.",
    )
    country = forms.CharField(
        label="Default country", max_length=2, required=False,
        help_text="For numbers written without + and country code in rows that have no country.",
    )
    vendor = forms.ModelChoiceField(
        Vendor.objects.order_by("name"), to_field_name="name", required=False, label="Default vendor",
        empty_label="— from the file —",
        help_text="The vendor of every row, for a file without a vendor column.",
    )
    sku = forms.ModelChoiceField(
        Sku.objects.order_by("code"), to_field_name="code", required=False, label="Default SKU",
        empty_label="— from the file —", help_text="The SKU of every row, for a file without a sku column.",
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


IGNORE = ""


class ImportMappingForm(forms.Form):
    """The mapping step: each file column → a field or ignore; defaults for absent columns.

    Pre-filled from the mapping remembered for these headers, else from the aliases. The
    mapping is checked by the import's own header_plan, so the form and the import agree.
    """

    vendor = forms.ModelChoiceField(
        Vendor.objects.order_by("name"), to_field_name="name", required=False, label="Default vendor",
        empty_label="— none —", help_text="For a file without a vendor column.",
    )
    sku = forms.ModelChoiceField(
        Sku.objects.order_by("code"), to_field_name="code", required=False, label="Default SKU",
        empty_label="— none —", help_text="For a file without a sku column.",
    )
    country = forms.CharField(
        label="Default country", max_length=2, required=False,
        help_text="For numbers written without + and country code, when the file has no country column.",
    )

    def __init__(self, *args, header: list, samples: list[list[str]], country_locked: str = "",
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.header = [str(h).strip() if h is not None else "" for h in header]
        choices = [(IGNORE, "— ignore —"), *imports.IMPORT_FIELDS.items()]
        self.columns: list[tuple[forms.BoundField, list[str]]] = []
        for index, text in enumerate(self.header):
            if not text:
                continue
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(choices=choices, required=False, label=text)
            self.columns.append((self[name], [row[index] for row in samples if index < len(row)]))
        if country_locked:
            self.fields["country"].disabled = True
            self.fields["country"].help_text = "Given on the upload form."
            self.initial["country"] = country_locked

    def clean_country(self):
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and country not in phonenumbers.SUPPORTED_REGIONS:
            raise forms.ValidationError(f"{country} is not an ISO 3166 country code.")
        return country

    def clean(self):
        data = super().clean()
        columns = {text: data.get(f"column_{index}") or IGNORE
                   for index, text in enumerate(self.header) if text}
        vendor = data["vendor"].name if data.get("vendor") else ""
        sku = data["sku"].code if data.get("sku") else ""
        try:
            plan = imports.header_plan(self.header, mapping=columns)
        except files.ImportFileError as exc:
            raise forms.ValidationError(str(exc)) from None
        if missing := plan.missing(vendor=vendor, sku=sku, country=data.get("country") or ""):
            raise forms.ValidationError(
                "Choose a column or a default for: " + ", ".join(missing) + ".")
        data.update(columns=columns, vendor_name=vendor, sku_code=sku)
        return data

    @staticmethod
    def initial_for(header: list, options: imports.ImportOptions) -> dict[str, str]:
        """The remembered mapping, else what the aliases say (unknown headers: ignore)."""
        chosen = {imports.header_key(k): v for k, v in (options.mapping or {}).items()}
        initial = {"vendor": options.vendor, "sku": options.sku, "country": options.country}
        for index, raw in enumerate(header):
            key = imports.header_key(raw)
            if key:
                initial[f"column_{index}"] = chosen.get(key, imports.HEADER_ALIASES.get(key, IGNORE))
        return initial


class NumberImportExportMixin:
    """Upload → preview (counts and refused rows) → confirm; big files in the background."""

    if TYPE_CHECKING:  # given by the ModelAdmin this mixin is mixed into
        opts: Any
        admin_site: Any

        def has_view_permission(self, request: Any, obj: Any = None) -> bool: ...
        def get_changelist_instance(self, request: Any) -> Any: ...

    import_template = "admin/inventory/phonenumber/import.html"
    import_job_template = "admin/inventory/phonenumber/import_job.html"
    import_mapping_template = "admin/inventory/phonenumber/import_mapping.html"
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
            path("import/<uuid:job>/mapping/", wrap(self.import_mapping_view),
                 name=f"{prefix}_import_mapping"),
            path("import/<uuid:job>/confirm/", wrap(self.import_confirm_view),
                 name=f"{prefix}_import_confirm"),
            path("import/<uuid:job>/progress/", wrap(self.import_progress_view),
                 name=f"{prefix}_import_progress"),
            path("import/<uuid:job>/errors.csv", wrap(self.import_errors_view),
                 name=f"{prefix}_import_errors"),
            path("import/<uuid:job>/errors.xlsx", wrap(self.import_errors_xlsx_view),
                 name=f"{prefix}_import_errors_xlsx"),
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
                (fmt, label, self._url("export", fmt) + (f"?{encoded}" if encoded else ""))
                for fmt, label in EXPORT_BUTTONS
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
        conf: dict[str, Any] = settings.NUMBERMGMT
        bound = int(conf.get("EXPORT_XLSX_MAX_ROWS", 200_000))
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
                started = self._start_job(request, form)
                if started is not None:
                    return HttpResponseRedirect(started)
        else:
            form = ImportUploadForm(initial={"country": default_country})
        recent = ImportJob.objects.filter(created_by=request.user).order_by("-created_at")[:10]
        context = self._context(request, "Import numbers", form=form, recent_jobs=recent,
                                limits=files.limits(),
                                max_mb=files.limits()["max_bytes"] // files.MB)
        return TemplateResponse(request, self.import_template, context)

    def _start_job(self, request, form) -> str | None:
        """Store the upload as a job; the URL of its mapping step or of its preview."""
        try:
            job = import_job_start(upload=form.cleaned_data["file"], country=form.cleaned_data["country"],
                                   all_or_nothing=not form.cleaned_data["valid_only"], actor=request.user)
        except ServiceError as exc:
            form.add_error("file", " ".join(exc.messages))
            return None
        mapping_url = self._url("import_mapping", job.uuid)
        vendor, sku = form.cleaned_data.get("vendor"), form.cleaned_data.get("sku")
        if vendor or sku:
            # Defaults given with the upload: remembered with these headers' mapping.
            try:
                header = imports.header_read(job.file.path)
            except files.ImportFileError:
                header = None  # the preview says why
            if header is not None:
                options = imports.import_options(header, country=job.country,
                                                 vendor=vendor.name if vendor else "",
                                                 sku=sku.code if sku else "")
                if options.needs_mapping:  # the mapping step asks the rest, with these defaults
                    return f"{mapping_url}?{urlencode({'vendor': options.vendor, 'sku': options.sku})}"
                import_mapping_save(signature=imports.header_signature(header),
                                    columns=options.mapping or {}, vendor=options.vendor,
                                    sku=options.sku, country=options.country, actor=request.user)
        if not self._dispatch_preview(request, job):
            return mapping_url
        return self._url("import_job", job.uuid)

    def _dispatch_preview(self, request, job: ImportJob) -> bool:
        """Check the file (now, or in the background), unless its headers need the mapping
        step first (False)."""
        if imports.job_options(job).needs_mapping:
            return False
        if import_job_dispatch(job=job, confirm=False):
            messages.info(request, f"{job.original_name}: about {job.total_rows:,} rows, checked in "
                                   "the background. This page follows its progress.")
        return True

    def import_mapping_view(self, request, job):
        """The mapping step: which file column is which field. Saving remembers it for the
        next file with the same headers; a job already previewed is checked again as a new
        upload of the same file."""
        job = self._job(request, job)
        here = self._url("import_job", job.uuid)
        if job.confirmed_at is not None or job.status in (J.RUNNING, J.DONE) or job.files_purged_at:
            messages.error(request, "This import is past its mapping step; upload the file again.")
            return HttpResponseRedirect(here)
        try:
            header, samples = imports.header_samples(job.file.path)
        except (files.ImportFileError, OSError) as exc:
            messages.error(request, f"{job.original_name}: {exc}")
            return HttpResponseRedirect(here)
        options = imports.import_options(header, country=job.country)
        kwargs = {"header": header, "samples": samples, "country_locked": job.country}
        if request.method == "POST":
            form = ImportMappingForm(request.POST, **kwargs)
            if form.is_valid():
                data = form.cleaned_data
                import_mapping_save(signature=imports.header_signature(header), columns=data["columns"],
                                    vendor=data["vendor_name"], sku=data["sku_code"],
                                    country="" if job.country else data["country"], actor=request.user)
                if job.status != J.PENDING:
                    job = self._restart_job(request, job)
                    if job is None:
                        return HttpResponseRedirect(here)
                self._dispatch_preview(request, job)
                return HttpResponseRedirect(self._url("import_job", job.uuid))
        else:
            initial = ImportMappingForm.initial_for(header, options)
            for key in ("vendor", "sku"):  # defaults given on the upload form
                initial[key] = request.GET.get(key) or initial[key]
            form = ImportMappingForm(initial=initial, **kwargs)
        plan = imports.header_plan(header)
        context = self._context(request, f"Map the columns of {job.original_name}", job=job, form=form,
                                unknown=plan.unknown, samples=samples,
                                remembered=options.mapping is not None)
        return TemplateResponse(request, self.import_mapping_template, context)

    @staticmethod
    def _mapping_version(job: ImportJob) -> str:
        """When the mapping the job's file is read with was last saved ("" = none)."""
        try:
            remembered = imports.mapping_remembered(imports.header_read(job.file.path))
        except (files.ImportFileError, OSError):
            return ""
        return remembered.updated_at.isoformat() if remembered else ""

    def _restart_job(self, request, job: ImportJob) -> ImportJob | None:
        """A new job from the same stored file (its preview was read with another mapping)."""
        try:
            with open(job.file.path, "rb") as stream:
                return import_job_start(upload=File(stream, name=job.original_name), country=job.country,
                                        all_or_nothing=job.all_or_nothing, actor=request.user)
        except (ServiceError, OSError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
            return None

    def import_job_view(self, request, job):
        job = self._job(request, job)
        if job.status == J.PENDING and imports.job_options(job).needs_mapping:
            return HttpResponseRedirect(self._url("import_mapping", job.uuid))
        errors: list[tuple[str, str]] = []  # (row, reason) of the first refused rows
        if job.error_file:
            with job.error_file.open("rb") as raw:
                rows = imports.error_report_rows(raw)
                next(rows, None)
                for row in rows:
                    errors.append((row[-2], row[-1]))
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
            errors_xlsx_url=self._url("import_errors_xlsx", job.uuid) if job.error_file else "",
            mapping_url=self._url("import_mapping", job.uuid)
            if job.confirmed_at is None and job.status in (J.PREVIEWED, J.FAILED) else "",
            mapping_version=self._mapping_version(job) if job.status == J.PREVIEWED else "",
        )
        return TemplateResponse(request, self.import_job_template, context)

    def import_confirm_view(self, request, job):
        job = self._job(request, job)
        here = self._url("import_job", job.uuid)
        if request.method != "POST":
            return HttpResponseRedirect(here)
        seen = request.POST.get("mapping_version")
        if seen is not None and seen != self._mapping_version(job):
            # The mapping of these headers was saved again since this preview was shown:
            # the import would not read the file as the preview did.
            messages.error(request, "The column mapping for these headers was changed since this "
                                    "preview. Check the mapping and the preview again.")
            return HttpResponseRedirect(self._url("import_mapping", job.uuid))
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


    def import_errors_xlsx_view(self, request, job):
        """The same report for a spreadsheet, made from the stored CSV when asked for."""
        job = self._job(request, job)
        if not job.error_file:
            raise Http404("This import has no refused rows.")
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
        with job.error_file.open("rb") as source:
            imports.error_report_xlsx(source, spool)
        spool.seek(0)
        return FileResponse(spool, as_attachment=True, filename=f"{Path(job.original_name).stem}-errors.xlsx",
                            content_type=exports.CONTENT_TYPES["xlsx"])


__all__ = ["ImportMappingForm", "ImportUploadForm", "NumberImportExportMixin"]
