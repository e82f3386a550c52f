"""`{% board_card card filter_qs %}`: the board card's markup, rendered in Python.

A board page shows up to 50 cards per column; rendering them through the template engine
cost more than all the page's SQL together, so the one card markup lives here and both the
page and the htmx swaps (`pipeline/_card.html`) use it.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from html import escape as _html_escape

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from pipeline.selectors import Card

register = template.Library()


@cache
def _url_pattern(name: str) -> tuple[str, str]:
    """(prefix, suffix) around the pk of a one-pk URL, so per-card URLs need no reverse()."""
    marker = 987654321
    url = reverse(name, args=[marker])
    prefix, _, suffix = url.partition(str(marker))
    return prefix, suffix


def _url(name: str, pk: int) -> str:
    prefix, suffix = _url_pattern(name)
    return f"{prefix}{pk}{suffix}"


def escape(value: object) -> str:
    """HTML-escape like django.utils.html.escape, minus its lazy-string wrapper (hot loop)."""
    return _html_escape(str(value), quote=True)


def money(value: Decimal | None) -> str:
    """Whole units with thousands separators (one currency per install)."""
    return f"{value or 0:,.0f}"


@register.simple_tag
def board_card(card: Card, filter_qs: str = "") -> SafeString:
    name = escape(card.name)
    classes = "card board-card mb-2" + (" card-rotting" if card.is_rotting else "")
    close = card.expected_close_date.strftime("%b %-d, %Y") if card.expected_close_date else ""
    parts = [
        f'<article class="{classes}" id="card-{card.pk}" data-id="{card.pk}"'
        f' data-version="{card.version}" data-stage="{card.stage.pk}" data-name="{name}"'
        f' data-move-url="{escape(_url("pipeline:move_card", card.pk) + filter_qs)}">'
        '<div class="card-body p-2"><div class="d-flex justify-content-between gap-1">'
        f'<a class="fw-semibold text-decoration-none card-name"'
        f' href="{_url("pipeline:opportunity", card.pk)}">{name}</a>'
        '<span class="badge rounded-pill text-bg-light border flex-shrink-0 align-self-start"'
        f' title="{escape(card.owner_name)}">{escape(card.owner_initials)}</span></div>'
    ]
    if card.account_name:
        parts.append(f'<div class="small text-body-secondary">{escape(card.account_name)}</div>')
    parts.append(
        '<div class="d-flex justify-content-between small">'
        f'<span class="fw-semibold">{money(card.amount)}</span>'
        f'<span title="Expected close">{close}</span></div>'
    )
    if card.next_step:
        when = f" · {card.next_step_date.strftime('%b %-d')}" if card.next_step_date else ""
        parts.append(
            f'<div class="small text-truncate" title="Next step">→ {escape(card.next_step)}{when}</div>'
        )
    badges = []
    if card.is_rotting:
        badges.append('<span class="badge text-bg-warning" data-testid="rotting">rotting</span> ')
    if card.is_stale:
        badges.append('<span class="badge text-bg-secondary">stale</span> ')
    if card.has_overdue_task:
        badges.append(
            '<span class="overdue-dot" title="Overdue task" data-testid="overdue">'
            '<span class="visually-hidden">Overdue task</span></span>'
        )
    parts.append(
        '<div class="d-flex justify-content-between align-items-center mt-1">'
        f"<span>{''.join(badges)}</span>"
        '<button type="button" class="btn btn-link btn-sm p-0 move-to" aria-haspopup="dialog"'
        f' aria-label="Move {name} to…">Move to…</button></div></div></article>'
    )
    return mark_safe("".join(parts))  # nosec B308 B703 -- every user value is escaped above


@register.filter
def amount(value: Decimal | None) -> str:
    return money(value)
