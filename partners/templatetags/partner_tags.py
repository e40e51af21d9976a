"""Template helpers of the partner dashboard."""

from django import template

from partners.views import number_url

register = template.Library()


@register.filter(name="number_url")
def number_url_filter(e164: str) -> str:
    """`{{ n.e164|number_url }}`: the number's page, `+` encoded as %2B."""
    return number_url(e164)


@register.filter
def state_class(state: str) -> str:
    return f"state state-{state}"


@register.filter
def thousands(value) -> str:
    """12345 → "12,345" (django.contrib.humanize is not installed)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


@register.filter
def upto(value: str, separator: str) -> str:
    """The text before the first separator: "2 months, 4 weeks" → "2 months"."""
    return str(value).split(separator, 1)[0]
