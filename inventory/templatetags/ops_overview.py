"""`{% ops_overview as overview %}`: the figures of the admin index (inventory.admin_overview)."""

from __future__ import annotations

from typing import Any

from django import template

from inventory.admin_overview import ops_overview as overview_figures

register = template.Library()


@register.simple_tag
def ops_overview() -> dict[str, list[dict[str, Any]]]:
    return overview_figures()
