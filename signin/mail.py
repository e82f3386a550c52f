"""Every e-mail the sign-in feature sends goes through `send` (password resets, "your
two-factor was reset", anything allauth would send). One function, so pointing it at the
outbox (crm.outbox.enqueue_rendered) is a one-line change."""

from __future__ import annotations

from django.core.mail import EmailMultiAlternatives
from django.db import transaction

from crm.models import User


def send(
    *,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    recipient: User | None = None,
) -> None:
    """Send one message after the current transaction commits (never for a rolled-back
    cause). `kind` names the message ("signin.password_reset"); `recipient` is the user it
    is for, when there is one."""
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    if html:
        message.attach_alternative(html, "text/html")
    transaction.on_commit(message.send)
