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
def get_item(mapping: dict, key: object) -> object:
    return mapping.get(key) if mapping else None
