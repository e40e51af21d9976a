"""Mass edits of a number's descriptive attributes (never its state or holder)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.db import transaction
from django.db.models import Field
from django.utils import timezone

from subscriptions.models import Organization

from ..models import PhoneNumber, Sku, Vendor
from .lifecycle import hold_attrs_clean, resolve
from .locks import numbers_lock
from .results import Batch, ServiceError, TransitionResult, require_remark

UPDATE = "update"  # the action name a changed number's event carries


# Descriptive attributes ops may mass-edit. Never the state or the tenancy fields: those
# move only through the life-cycle services above.
EDITABLE_ATTRS = ("tags", "notes", "sku", "vendor", "routing", "voice", "sms", "fax", "is_golden",
                  "is_ported_in", "visible_to", "after_hold_state", "hold_days")


def _clean_attribute_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(EDITABLE_ATTRS) - {"add_tags", "remove_tags"}
    if unknown:
        raise ServiceError(
            f"These fields cannot be edited here: {', '.join(sorted(unknown))}. The state and "
            "the holder change only through the life-cycle actions."
        )
    if not changes:
        raise ServiceError("Nothing to change.")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("vendor", "sku"):
            if value in (None, ""):
                raise ServiceError(f"A number needs a {name}; it cannot be cleared.")
            model, key = (Vendor, "name") if name == "vendor" else (Sku, "code")
            value = resolve(model, value, key, name)
        elif name == "visible_to":
            if value not in (None, ""):
                value = resolve(Organization, value, "uuid", "organization")
                if not value.is_partner:
                    raise ServiceError(f"Visible to must name a partner; {value.name} is a customer.")
            else:
                value = None
        elif name in ("voice", "sms", "fax", "is_golden", "is_ported_in"):
            value = bool(value)
        elif name == "tags":
            value = PhoneNumber.tags_to_field(value or "")
        elif name in ("after_hold_state", "hold_days"):
            cleaned = {name: value}
            hold_attrs_clean(cleaned)
            value = cleaned[name]
        elif name in ("add_tags", "remove_tags"):
            value = PhoneNumber.tags_to_field(value or "")
            value = [t for t in value.split(";") if t]
        else:  # routing, notes
            value = (value or "").strip()
        values[name] = value
    return values


def number_update_attributes(*, numbers: Any, changes: dict[str, Any], actor: Any, remark: str,
                             now: dt.datetime | None = None) -> TransitionResult:
    """Mass edit of descriptive attributes (EDITABLE_ATTRS), never the state.

    `changes` maps a field to its new value; `add_tags` / `remove_tags` edit each number's
    tag set instead of replacing it. A number whose values are already so is left alone
    (no history row); every changed number gets one history row with the remark.
    """
    remark = require_remark(remark)
    values = _clean_attribute_changes(changes)
    add_tags = values.pop("add_tags", [])
    remove_tags = set(values.pop("remove_tags", []))
    now = now or timezone.now()
    with transaction.atomic():
        batch = Batch(actor=actor, remark=remark, now=now, action=UPDATE)
        for n in numbers_lock(numbers):
            new: dict[str, Any] = {}
            for name, value in values.items():
                field_ = cast("Field", PhoneNumber._meta.get_field(name))
                current = getattr(n, field_.attname)
                wanted = value.pk if field_.is_relation and value is not None else value
                if current != wanted:
                    new[name] = value
            if add_tags or remove_tags:
                tags = [t for t in set(PhoneNumber.tags_to_field(new.get("tags", n.tags)).split(";"))
                        | set(add_tags) if t and t not in remove_tags]
                tags_value = PhoneNumber.tags_to_field(tags)
                if tags_value != n.tags:
                    new["tags"] = tags_value
                else:
                    new.pop("tags", None)
            if new:
                batch.change(n, **new)
            else:
                batch.keep(n)
        return batch.commit()
