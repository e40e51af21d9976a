"""The summary's bar chart: geometry for an inline SVG (no JavaScript, no CDN).

The SVG scales to its box through its viewBox, so on a phone the whole month (and its
busiest day) fits the screen instead of scrolling sideways; the geometry is drawn for a
narrow box (`width`) so that bars and labels stay legible when scaled down to ~330 px.
"""

from __future__ import annotations

import math
from typing import Any

from django.urls import reverse

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, BOTTOM, TOP = 56, 8, 30, 12
LABEL_EVERY = 7  # a date under every 7th bar: legible when the chart is phone-wide


def chart_ending(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars for reservations ending per day; each bar links to that day's numbers."""
    plot_h = HEIGHT - BOTTOM - TOP
    peak = max((d["total"] for d in days), default=0)
    step = nice_step(peak)
    y_max = max(step * math.ceil(peak / step), step) if peak else 4
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bar_w = max(slot * 0.7, 2)
    numbers = reverse("partner:numbers")
    bars = []
    for i, d in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        h_res = plot_h * d["reserved"] / y_max
        day = d["day"].isoformat()
        bars.append({
            **d, "x": round(x, 1), "w": round(bar_w, 1),
            "res_y": round(TOP + plot_h - h_res, 1), "res_h": round(h_res, 1),
            "peak": bool(peak) and d["total"] == peak,
            "label": d["day"].strftime("%d %b") if i % LABEL_EVERY == 0 else "",
            "label_x": round(x + bar_w / 2, 1),
            "href": f"{numbers}?state=reserved&expires_after={day}&expires_before={day}&sort=expires",
        })
    ticks = []
    value = 0
    while value <= y_max:
        ticks.append({"value": value, "y": round(TOP + plot_h - plot_h * value / y_max, 1)})
        value += step if peak else 1
    busiest = next((b for b in bars if b["peak"]), None)
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "bars": bars, "ticks": ticks,
            "top": TOP, "base_y": TOP + plot_h, "right": WIDTH - RIGHT, "label_y": HEIGHT - 8,
            "total": sum(d["total"] for d in days), "peak": peak,
            "busiest_day": busiest["day"] if busiest else None}


def nice_step(peak: int) -> int:
    """A round tick step (1, 2, 2.5, 5 × 10^n) giving about four grid lines up to `peak`."""
    if peak <= 4:
        return 1
    raw = peak / 4
    magnitude = 10 ** int(math.floor(math.log10(raw)))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return max(int(m * magnitude), 1)
    return int(10 * magnitude)
