"""Plumb's own messages from templates: `templates/<name>.txt` and `<name>.html`, both on the one
base layout (`email/base.txt`, `email/base.html`), rendered in the recipient's time zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from crm.models import OutboxMessage, User
from crm.outbox.compose import Outgoing, enqueue_many

# Plumb's own mail says so: auto-responders and "out of office" replies stay quiet.
SYSTEM_HEADERS = {"Auto-Submitted": "auto-generated"}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def recipient_zone(user: User | None) -> zoneinfo.ZoneInfo:
    """The user's time zone, else the install's (TIME_ZONE)."""
    name = (user.time_zone if user is not None else "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def prefixed(subject: str) -> str:
    """The subject with EMAIL_SUBJECT_PREFIX in front (Plumb's own messages only)."""
    prefix = settings.EMAIL_SUBJECT_PREFIX
    return f"{prefix} {subject}" if prefix else subject


def preferences_url() -> str:
    """Where a recipient changes what Plumb e-mails them (the footer links here)."""
    return f"{settings.SITE_URL}{reverse('settings:profile')}#email"


def render_email(
    *, template: str, subject: str, context: Mapping[str, Any], to_user: User | None
) -> Rendered:
    """Render `{template}.txt` and `{template}.html` (autoescaped) with the recipient's time
    zone active, so every `|date` prints their local time; formats are language-neutral
    (`Y-m-d H:i`) and name the zone."""
    zone = recipient_zone(to_user)
    full = {
        **context,
        "recipient": to_user,
        "subject": subject,
        "site_url": settings.SITE_URL,
        "preferences_url": preferences_url() if to_user is not None else "",
        "time_zone": zone.key,
    }
    with timezone.override(zone):
        text = render_to_string(f"{template}.txt", full)
        html = render_to_string(f"{template}.html", full)
    return Rendered(subject=prefixed(subject), text=text.strip() + "\n", html=html)


def templated(
    *,
    kind: str,
    template: str,
    subject: str,
    context: Mapping[str, Any],
    to_user: User | None = None,
    to: Sequence[str] | None = None,
    notification_id: int | None = None,
) -> Outgoing:
    """One rendered message for `enqueue_many` (to `to`, else to `to_user`'s address)."""
    rendered = render_email(template=template, subject=subject, context=context, to_user=to_user)
    return Outgoing(
        kind=kind,
        to=list(to) if to is not None else [to_user.email if to_user else ""],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        recipient=to_user,
        notification_id=notification_id,
        headers=SYSTEM_HEADERS,
    )


def enqueue_template(
    *,
    kind: str,
    template: str,
    subject: str,
    context: Mapping[str, Any],
    to_user: User | None = None,
    to: Sequence[str] | None = None,
) -> OutboxMessage:
    """Render and queue one of Plumb's own messages, in the caller's transaction (see
    crm.outbox.enqueue_many): to `to`, else to `to_user`'s address."""
    (row,) = enqueue_many(
        [
            templated(
                kind=kind,
                template=template,
                subject=subject,
                context=context,
                to_user=to_user,
                to=to,
            )
        ]
    )
    return row
