"""A real SMTP server on loopback (aiosmtpd) for the outbox's tests and benchmark.

It records every message it accepts and every connection, and can misbehave on demand:
refuse recipients (`refuse["bob@x"] = "550 5.1.1 no such user"`), answer DATA with queued
replies first (`data_replies.append("451 4.3.0 try later")`), or take its time over DATA
(`delay`, to outlast EMAIL_TIMEOUT). `stop()` and `start()` again on the same port play a
relay that is down for a while.
"""

from __future__ import annotations

import asyncio
import email
import logging
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class SinkHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.data_replies: list[str] = []
        self.delay = 0.0
        self.connections = 0
        self.in_data = threading.Event()  # set while a slow DATA is being held
        self._lock = threading.Lock()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> Any:
        with self._lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            self.in_data.set()
            await asyncio.sleep(self.delay)
            self.in_data.clear()
        with self._lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            content = envelope.original_content or envelope.content or b""
            data = content if isinstance(content, bytes) else content.encode()
            self.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=email.message_from_bytes(data),
                )
            )
            return f"250 2.0.0 Ok: queued as {len(self.received)}"


class SmtpSink:
    """An SMTP server on 127.0.0.1 (a free port), started and stopped by the test."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?tls=false"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> SmtpSink:
        # The greeting needs no DNS lookup of our own name (it can be slow on some hosts).
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, server_hostname="sink.test"
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def message_ids(self) -> Counter[str]:
        return Counter(item.message_id for item in self.received)

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return True
            time.sleep(0.05)
        return len(self.received) >= count

    def configure(self, settings: Any, *, timeout: int = 10) -> None:
        """Point Django's e-mail settings (the pytest-django `settings` fixture) here."""
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = self.port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = timeout
