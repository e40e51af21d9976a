"""`{% ops_overview as overview %}`: the figures of the admin index (inventory.admin_overview)."""

from __future__ import annotations

from typing import Any

from django import template
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

from inventory.admin_overview import ops_overview as overview_figures

register = template.Library()
HEARTBEATS_TEMPLATE = "ops/heartbeats.html"


@register.simple_tag
def ops_overview() -> dict[str, list[dict[str, Any]]]:
    return overview_figures()


@register.simple_tag(takes_context=True)
def ops_heartbeats(context: template.Context) -> str:
    """The slot for the worker's and beat's heartbeats: the ops app ships the template
    `ops/heartbeats.html` (cards like the overview's: `<a class="card">…`); until then, nothing."""
    try:
        slot = get_template(HEARTBEATS_TEMPLATE)
    except TemplateDoesNotExist:
        return ""
    values: dict[str, Any] = {str(k): v for k, v in context.flatten().items()}
    return slot.render(values, context.get("request"))
