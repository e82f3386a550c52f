"""Every e-mail the sign-in feature sends goes through here (password resets, "your two-factor
was reset", anything allauth would send), into the outbox (crm.outbox): a row written in the
current transaction, so a rolled-back cause sends nothing and a relay that is down delays the
message instead of losing it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from crm import outbox
from crm.models import User


@transaction.atomic
def send(
    *,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    recipient: User | None = None,
) -> None:
    """Queue one already-rendered message (allauth renders its own). `kind` names the message
    ("allauth.email_confirmation"); `recipient` is the user it is for, when there is one."""
    outbox.enqueue(
        kind=kind,
        to=[to],
        subject=outbox.prefixed(subject),
        text=text,
        html=html,
        recipient=recipient,
        headers={"Auto-Submitted": "auto-generated"},
    )


@transaction.atomic
def send_template(
    *,
    kind: str,
    to: str,
    template: str,
    subject: str,
    context: Mapping[str, Any],
    recipient: User | None = None,
) -> None:
    """Queue one of sign-in's own messages from `templates/<template>.txt|.html` (the e-mail
    base layout, the recipient's time zone)."""
    outbox.enqueue_template(
        kind=kind, template=template, subject=subject, context=context, to_user=recipient, to=[to]
    )
