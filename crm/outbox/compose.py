"""Writing messages into the outbox: checked, then inserted with their Message-IDs, in the
caller's transaction.

Everything is refused before anything is written (a ValidationError naming the field), so a
bad recipient in a batch queues nothing at all: no half-sent batch, no header injection, no
message a relay would reject for its size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import getaddresses
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models import Value
from django.db.models.functions import Cast, Concat

from crm.models import OrgSettings, OutboxMessage, User

MAX_RECIPIENTS = 50  # to and cc together: more is a mailing, not a message
MAX_BODY_BYTES = 1024 * 1024  # the text, and the HTML, each
MAX_SUBJECT = 998  # RFC 5322's line limit
MAX_ADDRESS = 254  # RFC 5321's path limit, less the angle brackets
LINE_BREAKS = ("\r", "\n", "\x00")
# Headers Plumb writes itself from the row: a caller cannot set or override them.
RESERVED_HEADERS = frozenset(
    {
        "bcc",
        "cc",
        "content-transfer-encoding",
        "content-type",
        "date",
        "from",
        "message-id",
        "mime-version",
        "reply-to",
        "sender",
        "subject",
        "to",
    }
)


@dataclass(frozen=True)
class Outgoing:
    """One message to queue, already rendered. `recipient` is the user it is for (system mail);
    `notification` the in-app notification it tells of (its scope is checked again when
    sending)."""

    kind: str
    to: Sequence[str]
    subject: str
    text: str
    html: str = ""
    cc: Sequence[str] = ()
    reply_to: Sequence[str] = ()
    from_email: str = ""
    recipient: User | None = None
    notification_id: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def clean_address(raw: str, *, field_name: str) -> str:
    """One address, `ann@example.com` or `Ann Lee <ann@example.com>`, as stored: refused
    with a message naming `field_name` when it is not exactly one valid address."""
    text = str(raw).strip()
    if any(char in text for char in LINE_BREAKS):
        raise ValidationError({field_name: f"“{text[:80]}” contains a line break."})
    found = [pair for pair in getaddresses([text]) if pair[1]]
    if len(found) > 1:
        raise ValidationError({field_name: f"“{text[:80]}” is not one e-mail address."})
    if not found:
        raise ValidationError({field_name: f"“{text[:80]}” is not an e-mail address."})
    name, address = found[0]
    if len(address) > MAX_ADDRESS:
        raise ValidationError({field_name: f"“{text[:80]}…” is longer than an address can be."})
    try:
        validate_email(address)
        return str(Address(display_name=name, addr_spec=address))
    except (ValidationError, ValueError, IndexError):
        raise ValidationError({field_name: f"“{text[:80]}” is not an e-mail address."}) from None


def clean_addresses(raw: Sequence[str], *, field_name: str) -> list[str]:
    """Several addresses (each as `clean_address`); the same address twice (whatever the
    name or case) is kept once, as first given."""
    cleaned: dict[str, str] = {}
    for item in raw:
        address = clean_address(item, field_name=field_name)
        cleaned.setdefault(address_key(address), address)
    return list(cleaned.values())


def address_key(address: str) -> str:
    """What makes two addresses the same: the address itself, in any case, whatever name."""
    return getaddresses([address])[0][1].lower()


def clean_header_text(value: str, *, field_name: str) -> str:
    """A header value (a subject): one line, no NUL."""
    if any(char in value for char in LINE_BREAKS):
        raise ValidationError({field_name: "This may not contain line breaks."})
    return value


def check_message(message: Outgoing) -> Outgoing:
    """The message as it will be stored, or ValidationError naming what is wrong."""
    to = clean_addresses(message.to, field_name="to")
    already = {address_key(address) for address in to}
    cc = [a for a in clean_addresses(message.cc, field_name="cc") if address_key(a) not in already]
    if not to:
        raise ValidationError({"to": "Name at least one recipient."})
    if len(to) + len(cc) > MAX_RECIPIENTS:
        raise ValidationError(
            {
                "to": f"At most {MAX_RECIPIENTS} recipients (to and cc together); "
                f"this message has {len(to) + len(cc)}."
            }
        )
    subject = clean_header_text(message.subject.strip(), field_name="subject")
    if len(subject) > MAX_SUBJECT:
        raise ValidationError({"subject": f"At most {MAX_SUBJECT} characters."})
    size = max(len(message.text.encode()), len(message.html.encode()))
    if size > MAX_BODY_BYTES:
        raise ValidationError(
            {"body": f"The message is {size / 1024 / 1024:.1f} MB; the limit is 1 MB."}
        )
    headers = {}
    for name, value in message.headers.items():
        if name.lower() in RESERVED_HEADERS or not name.replace("-", "").isalnum():
            raise ValidationError({"headers": f"Header {name!r} cannot be set."})
        headers[name] = clean_header_text(str(value), field_name="headers")
    from_email = message.from_email or settings.DEFAULT_FROM_EMAIL
    return Outgoing(
        kind=message.kind,
        to=to,
        cc=cc,
        reply_to=clean_addresses(message.reply_to, field_name="reply_to"),
        from_email=clean_address(from_email, field_name="from_email"),
        subject=subject,
        text=message.text,
        html=message.html,
        recipient=message.recipient,
        notification_id=message.notification_id,
        headers=headers,
    )


def install_id() -> str:
    """This database's random install id (made with the settings row, never reused)."""
    return OrgSettings.load().install_id


def message_id_domain() -> str:
    """The right-hand side of Plumb's Message-IDs: the host users reach Plumb at."""
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def enqueue_many(messages: Sequence[Outgoing]) -> list[OutboxMessage]:
    """Queue every message or none (all are checked first), in the caller's transaction: if it
    rolls back, nothing is sent; once it commits, a sender is kicked.

    Each row's Message-ID, `<plumb.{row id}.{install id}@{SITE_URL's host}>`, is written with
    it (one UPDATE for the batch) and never changes: a resend is the same message."""
    checked = [check_message(message) for message in messages]
    if not checked:
        return []
    # No savepoint: nothing can fail half-way after the checks but the database itself, and
    # then the caller's transaction must roll back anyway.
    with transaction.atomic(savepoint=False):
        return _insert(checked)


def _insert(checked: list[Outgoing]) -> list[OutboxMessage]:
    rows = OutboxMessage.objects.bulk_create(
        OutboxMessage(
            kind=message.kind,
            recipient=message.recipient,
            notification_id=message.notification_id,
            from_email=message.from_email,
            to=list(message.to),
            cc=list(message.cc),
            reply_to=list(message.reply_to),
            subject=message.subject,
            text_body=message.text,
            html_body=message.html,
            headers=dict(message.headers),
        )
        for message in checked
    )
    suffix = f".{install_id()}@{message_id_domain()}>"
    OutboxMessage.objects.filter(pk__in=[row.pk for row in rows]).update(
        message_id=Concat(Value("<plumb."), Cast("pk", models.CharField()), Value(suffix))
    )
    for row in rows:
        row.message_id = f"<plumb.{row.pk}{suffix}"
    kick_sender()
    return rows


def enqueue(
    *,
    kind: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str = "",
    cc: Sequence[str] = (),
    reply_to: Sequence[str] = (),
    from_email: str = "",
    recipient: User | None = None,
    headers: Mapping[str, str] | None = None,
) -> OutboxMessage:
    """Queue one already-rendered message (see `enqueue_many`). `kind` names what it is
    ("signin.password_reset", "activities.email"); `recipient` the user it is for, if any."""
    (row,) = enqueue_many(
        [
            Outgoing(
                kind=kind,
                to=to,
                subject=subject,
                text=text,
                html=html,
                cc=cc,
                reply_to=reply_to,
                from_email=from_email,
                recipient=recipient,
                headers=headers or {},
            )
        ]
    )
    return row


def kick_sender() -> None:
    """Ask a worker to send once the transaction commits (the minute sweep is the backstop:
    a lost kick delays a message by a minute, never loses it)."""
    # Cycle: crm.tasks wraps crm.outbox's sender.
    from crm.tasks import send_outbox_task

    send_outbox_task.delay_on_commit()
