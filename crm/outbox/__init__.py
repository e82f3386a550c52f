"""The outbox: every e-mail Plumb sends is a row written with its cause, delivered by workers.

Other apps call this inside their transactions:

    outbox.enqueue(kind="activities.email", to=[…], subject=…, text=…, html=…)   # rendered
    outbox.enqueue_template(kind="invitation", template="email/invitation",      # Plumb's own
                            subject=…, context={…}, to_user=user)

and the workers run `send_all_due` (a task kicked after each commit, and a sweep every minute).
See compose (checks, Message-IDs), render (templates, time zones), sender (claim, send,
record, backoff), transport (SMTP), notifications (at once or daily digest), failures
(Settings → E-mail).
"""

from __future__ import annotations

from crm.outbox.compose import (
    MAX_BODY_BYTES,
    MAX_RECIPIENTS,
    Outgoing,
    clean_address,
    clean_addresses,
    clean_header_text,
    enqueue,
    enqueue_many,
    kick_sender,
)
from crm.outbox.failures import failed_messages, outbox_counts, resend, resendable
from crm.outbox.notifications import (
    email_notifications,
    mailable,
    send_digests,
    stamp_for_email,
    wants_each,
)
from crm.outbox.render import enqueue_template, prefixed, recipient_zone, render_email, templated
from crm.outbox.sender import SendReport, retry_delay, send_all_due, send_due

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_RECIPIENTS",
    "Outgoing",
    "SendReport",
    "clean_address",
    "clean_addresses",
    "clean_header_text",
    "email_notifications",
    "enqueue",
    "enqueue_many",
    "enqueue_template",
    "failed_messages",
    "kick_sender",
    "mailable",
    "outbox_counts",
    "prefixed",
    "recipient_zone",
    "render_email",
    "resend",
    "resendable",
    "retry_delay",
    "send_all_due",
    "send_digests",
    "send_due",
    "stamp_for_email",
    "templated",
    "wants_each",
]
