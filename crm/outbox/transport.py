"""Talking to the relay: one connection per batch, every answer kept.

Django's SMTP backend opens the connection (host, port, implicit TLS or STARTTLS, login,
EMAIL_TIMEOUT on every socket operation); the dialogue for each message is ours, because
`send_messages` hides what we must record: the relay's final answer ("250 2.0.0 queued as …")
and which recipients it refused, and whether for now (4xx) or for good (5xx). Other backends
(console, file, the tests' locmem) send through their own `send_messages`.
"""

from __future__ import annotations

import contextlib
import secrets
import smtplib
from dataclasses import dataclass, field
from email.utils import formatdate, parseaddr
from typing import Protocol

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address

from crm.models import OutboxMessage

SENT, RETRY, FAILED = "sent", "retry", "failed"


@dataclass(frozen=True)
class Result:
    """What became of one message: sent, retry later (transient), or failed for good.

    `refused` holds the recipients refused for good, with the relay's answer; `deferred` the
    recipients still owed the message after the relay accepted it for the others (the next
    try goes to them only). `broken` says the connection is gone: stop this batch."""

    outcome: str
    response: str
    refused: dict[str, str] = field(default_factory=dict)
    deferred: list[str] | None = None
    broken: bool = False


def outcome_of(code: int) -> str:
    """5xx is a refusal for good; 4xx (and anything unexpected) is worth another try."""
    return FAILED if 500 <= code < 600 else RETRY


def _text(code: int, response: bytes | str) -> str:
    if isinstance(response, bytes):
        response = response.decode(errors="replace")
    return f"{code} {' '.join(response.split())}"[:1000]


def build_message(row: OutboxMessage) -> EmailMultiAlternatives:
    """The MIME message of a row: its Message-ID and Date are the row's, on every try."""
    headers = {
        **row.headers,
        "Message-ID": row.message_id or "",
        "Date": formatdate(row.created_at.timestamp()),
    }
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.text_body,
        from_email=row.from_email,
        to=row.to,
        cc=row.cc,
        reply_to=row.reply_to,
        headers=headers,
    )
    if row.html_body:
        message.attach_alternative(row.html_body, "text/html")
    return message


def wire_address(address: str, encoding: str) -> str:
    """The bare address for MAIL FROM / RCPT TO. Stored addresses were checked when queued:
    an ASCII one is used as it is; others go through Django's IDNA/encoding rules."""
    bare = parseaddr(address)[1]
    return bare if bare.isascii() else sanitize_address(address, encoding)


def as_bytes(message: EmailMultiAlternatives) -> bytes:
    """The message on the wire. A multipart one gets a random boundary up front: the
    standard library would otherwise compile a regular expression per message to pick one
    that is not in the text (a third of the time it takes to build a message)."""
    mime = message.message()
    if mime.is_multipart() and mime.get_boundary() is None:
        mime.set_boundary(f"=_plumb_{secrets.token_hex(16)}")
    return mime.as_bytes(linesep="\r\n")


class Transport(Protocol):
    def open(self) -> None: ...

    def send(self, message: EmailMultiAlternatives, envelope: list[str]) -> Result: ...

    def close(self) -> None: ...


class SmtpTransport:
    """One SMTP connection (Django's backend opens it: TLS, login, EMAIL_TIMEOUT)."""

    def __init__(self, backend: SmtpBackend) -> None:
        self.backend = backend

    def open(self) -> None:
        self.backend.open()

    def close(self) -> None:
        try:
            self.backend.close()
        except Exception:  # a dead connection cannot be closed politely
            self.backend.connection = None

    def _reset(self, connection: smtplib.SMTP) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):  # the next command will tell
            connection.rset()

    def send(self, message: EmailMultiAlternatives, envelope: list[str]) -> Result:
        connection = self.backend.connection
        if connection is None:
            return Result(RETRY, "no connection to the relay", broken=True)
        encoding = message.encoding or settings.DEFAULT_CHARSET
        by_wire = {wire_address(address, encoding): address for address in envelope}
        data = as_bytes(message)
        try:
            return self._dialogue(
                connection, wire_address(message.from_email, encoding), by_wire, data
            )
        except smtplib.SMTPResponseException as error:  # DATA refused before the body went
            self._reset(connection)
            return Result(outcome_of(error.smtp_code), _text(error.smtp_code, error.smtp_error))
        except (smtplib.SMTPException, OSError) as error:  # gone, timed out, reset
            return Result(RETRY, f"{type(error).__name__}: {error}"[:1000], broken=True)

    def _dialogue(
        self, connection: smtplib.SMTP, sender: str, by_wire: dict[str, str], data: bytes
    ) -> Result:
        """MAIL, RCPT per recipient, DATA: smtplib.sendmail's steps, keeping every answer."""
        connection.ehlo_or_helo_if_needed()
        options = [f"size={len(data)}"] if connection.has_extn("size") else []
        code, answer = connection.mail(sender, options)
        if code != 250:
            if code == 421:  # the relay is closing the connection
                return Result(RETRY, _text(code, answer), broken=True)
            self._reset(connection)
            return Result(outcome_of(code), _text(code, answer))
        refused: dict[str, tuple[int, str]] = {}
        for wire, address in by_wire.items():
            code, answer = connection.rcpt(wire)
            if code == 421:
                return Result(RETRY, _text(code, answer), broken=True)
            if code not in (250, 251):
                refused[address] = (code, _text(code, answer))
        permanent = {a: text for a, (code, text) in refused.items() if outcome_of(code) == FAILED}
        deferred = [a for a, (code, _) in refused.items() if outcome_of(code) == RETRY]
        if len(refused) == len(by_wire):  # nobody to send to
            self._reset(connection)
            answers = "; ".join(f"{a}: {text}" for a, (_, text) in refused.items())[:1000]
            if deferred:
                return Result(RETRY, answers, refused=permanent, deferred=deferred)
            return Result(FAILED, answers, refused=permanent)
        code, answer = connection.data(data)
        if code != 250:
            self._reset(connection)
            return Result(outcome_of(code), _text(code, answer))
        if deferred:  # delivered to some; the others are owed it
            return Result(RETRY, _text(code, answer), refused=permanent, deferred=deferred)
        return Result(SENT, _text(code, answer), refused=permanent)


class BackendTransport:
    """Any other e-mail backend (console, file, locmem): its `send_messages`, one at a time."""

    def __init__(self, backend: BaseEmailBackend) -> None:
        self.backend = backend

    def open(self) -> None:
        self.backend.open()

    def close(self) -> None:
        self.backend.close()

    def send(self, message: EmailMultiAlternatives, envelope: list[str]) -> Result:
        # No envelope of their own: only an SMTP relay accepts some recipients and defers others.
        try:
            count = self.backend.send_messages([message])
        except Exception as error:  # any backend's failure is worth a retry
            return Result(RETRY, f"{type(error).__name__}: {error}"[:1000], broken=True)
        if not count:
            return Result(RETRY, "the e-mail backend did not take the message")
        return Result(SENT, f"accepted by {type(self.backend).__module__}")


def open_transport() -> Transport:
    """A transport for EMAIL_BACKEND, with EMAIL_TIMEOUT on every socket operation."""
    backend = mail.get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
    if isinstance(backend, SmtpBackend):
        return SmtpTransport(backend)
    return BackendTransport(backend)
