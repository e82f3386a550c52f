"""Number formatting for forecast tables: money without cents, ratios as percentages."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


def _missing(value: object) -> bool:
    # A template variable that does not resolve arrives as "" (string_if_invalid), not None.
    return value is None or value == ""


@register.filter
def money(value: Decimal | float | None) -> str:
    if _missing(value):
        return "–"
    return f"{Decimal(value):,.0f}"


@register.filter
def signed_money(value: Decimal | float | None) -> str:
    if _missing(value):
        return "–"
    amount = Decimal(value)
    return "±0" if amount == 0 else f"{amount:+,.0f}"


@register.filter
def pct(value: float | None) -> str:
    return "–" if _missing(value) else f"{float(value) * 100:.1f}%"


@register.filter
def times(value: float | None) -> str:
    return "–" if _missing(value) else f"{float(value):.2f}×"


@register.filter
def duration(minutes: float | None) -> str:
    """Minutes as a person reads them: "12 min", "3.5 h", "2.1 days"."""
    if _missing(minutes):
        return "–"
    value = float(minutes)  # type: ignore[arg-type]
    if value < 1:
        return "< 1 min"
    if value < 120:
        return f"{value:.0f} min"
    if value < 48 * 60:
        return f"{value / 60:.1f} h"
    return f"{value / 1440:.1f} days"


@register.filter
def get_item(mapping: dict, key: object) -> object:
    return mapping.get(key) if mapping else None
