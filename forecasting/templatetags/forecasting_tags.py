"""Number formatting for forecast tables: money without cents, ratios as percentages."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django import template

if TYPE_CHECKING:
    from typing_extensions import TypeIs

register = template.Library()


def _missing(value: object) -> TypeIs[str | None]:
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
    value = float(minutes)
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
