"""django-import-export Resources for numbers (the library's row-by-row path).

Used only by bench/bench_import.py, as the measured peer: it checks, saves and (without
use_bulk) writes history one row at a time, about 340 rows/s here (1,300 with use_bulk and
no history), so a 1,000,000-row file would take 13 to 50 minutes. inventory.imports reads
the same columns set-wise instead. Its widgets share the import's rules
(inventory.numbers.normalize, numbermgmt.words' yes/no, tags stored as ";a;b;").
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from import_export import fields, instance_loaders, resources, widgets

from inventory.choices import CAPABILITIES
from inventory.models import PhoneNumber, Sku, Vendor
from inventory.numbers import NumberError, normalize, region_of
from numbermgmt.words import NO, YES, yes_no


class E164Widget(widgets.CharWidget):
    """A number cell as E.164, with the row's country for national formats."""

    def clean(self, value, row=None, **kwargs):
        country = (row or {}).get("country") or settings.NUMBERMGMT.get("DEFAULT_COUNTRY")
        try:
            return normalize(value, country)
        except NumberError as exc:
            raise ValueError(str(exc)) from None

    def render(self, value, obj=None, **kwargs):
        return value or ""


class CachedForeignKeyWidget(widgets.ForeignKeyWidget):
    """A vendor or SKU by name/code, looked up once per value instead of once per row."""

    def __init__(self, model, field="pk", **kwargs):
        super().__init__(model, field, **kwargs)
        self._cache: dict = {}

    def clean(self, value, row=None, **kwargs):
        if value not in self._cache:
            self._cache[value] = super().clean(value, row, **kwargs)
        return self._cache[value]


class YesNoWidget(widgets.BooleanWidget):
    TRUE_VALUES = [1, True, *YES, *(w.upper() for w in YES), *(w.title() for w in YES)]
    FALSE_VALUES = [0, False, *NO, *(w.upper() for w in NO), *(w.title() for w in NO)]

    def render(self, value, obj=None, **kwargs):
        return yes_no(value)


class PhoneNumberResource(resources.ModelResource):
    number = fields.Field(attribute="e164", column_name="number", widget=E164Widget())
    vendor = fields.Field(attribute="vendor", column_name="vendor",
                          widget=CachedForeignKeyWidget(Vendor, "name"))
    sku = fields.Field(attribute="sku", column_name="sku", widget=CachedForeignKeyWidget(Sku, "code"))
    golden = fields.Field(attribute="is_golden", column_name="golden", widget=YesNoWidget())
    ported_in = fields.Field(attribute="is_ported_in", column_name="ported_in", widget=YesNoWidget())
    capabilities = fields.Field(column_name="capabilities", dehydrate_method="dehydrate_capabilities")

    class Meta:
        model = PhoneNumber
        fields = ("number", "country", "vendor", "sku", "capabilities", "voice", "sms", "fax",
                  "routing", "golden", "ported_in", "tags", "notes")
        import_id_fields = ("number",)
        instance_loader_class = instance_loaders.CachedInstanceLoader  # one query per file
        skip_unchanged = True
        report_skipped = False

    def before_import_row(self, row, **kwargs):
        """Capabilities as `voice;sms` → the three flags; tags as stored; country from the number."""
        named = {c.strip().lower() for c in str(row.get("capabilities") or "").replace(",", ";").split(";")}
        if named - {""}:
            for capability in CAPABILITIES:
                row[capability] = "1" if capability in named else "0"
        if "tags" in row:
            row["tags"] = PhoneNumber.tags_to_field(str(row.get("tags") or ""))
        with contextlib.suppress(NumberError):  # else the number field reports it
            row["country"] = region_of(normalize(row.get("number"), row.get("country")))

    def dehydrate_capabilities(self, number: PhoneNumber) -> str:
        return ";".join(c for c in CAPABILITIES if getattr(number, c))
