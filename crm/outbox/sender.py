"""Keeping the outbox's promises: claim due rows, send outside any lock, record the answers.

    claim (short transaction)     FOR UPDATE SKIP LOCKED, then next_try_at = now + lease
    send  (no transaction)        one connection for the batch, EMAIL_TIMEOUT per operation
    record (short transactions)   one UPDATE per 20 answers, only rows still holding our claim

Any number of workers run this at once: SKIP LOCKED gives each its own rows, and the lease
keeps a row from a second sender while the first talks to the relay, without holding a lock.
A sender that dies mid-batch leaves its rows leased; when the lease ends they are due again
and go out again with the same Message-ID (at-least-once, one identity).

Transient failures (no connection, timeout, 4xx) are retried with exponential backoff and
jitter: the first retry within two minutes, then at most an hour apart, for at least 24 hours,
then given up. A permanent one (5xx) fails the message at once. Both are listed for admins
(Settings → E-mail) with the relay's answer, and can be resent.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from crm import bulk, selectors
from crm.models import Notification, OutboxMessage, User
from crm.outbox.transport import FAILED, RETRY, SENT, Result, build_message, open_transport

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
RECORD_EVERY = 20  # answers written per UPDATE: what a sender killed mid-batch may resend
FIRST_RETRY = timedelta(minutes=1)  # with jitter 30–60 s, plus at most a minute to the sweep
MAX_RETRY_GAP = timedelta(minutes=59)  # plus the sweep's minute: never more than an hour
GIVE_UP_AFTER = timedelta(hours=24)
OUT_OF_SCOPE = "not sent: its recipient may no longer see the record it names"
INACTIVE = "not sent: its recipient was deactivated"
RECORDED = (
    "status",
    "next_try_at",
    "claim",
    "attempts",
    "failing_since",
    "last_attempt_at",
    "sent_at",
    "response",
    "refused",
    "envelope",
)


@dataclass
class SendReport:
    """What one or more batches did (the sweep's JobRun counts)."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    given_up: int = 0
    cancelled: int = 0
    released: int = 0
    connections: int = 0

    def add(self, other: SendReport) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_counts(self) -> dict[str, int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


def lease() -> timedelta:
    return timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)


def retry_delay(attempts: int) -> timedelta:
    """After the `attempts`-th failed try: 1, 2, 4 … minutes, at most 59, each cut by a random
    0–50 % (jitter), so a relay that comes back is not hit by every message at once."""
    base = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY_GAP)
    return base * random.uniform(0.5, 1.0)  # jitter, not a secret: random is right here


def claim_due(*, now: datetime, limit: int) -> tuple[str, list[OutboxMessage]]:
    """Lease up to `limit` due rows to this sender (a short transaction of its own); returns
    (claim token, rows). Rows other senders hold are skipped, never waited for."""
    token = uuid.uuid4().hex
    with transaction.atomic():
        ids = list(
            OutboxMessage.objects.due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_try_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return token, []
        OutboxMessage.objects.filter(pk__in=ids).update(next_try_at=now + lease(), claim=token)
    return token, list(OutboxMessage.objects.filter(pk__in=ids, claim=token).order_by("pk"))


def _stale(rows: list[OutboxMessage]) -> dict[int, str]:
    """Rows with nothing left to say, and why: the recipient was deactivated, or may no longer
    see the record the notification names (it changed hands while the mail waited). Set-based:
    one query for the recipients, one for the notifications and their scope check."""
    stale: dict[int, str] = {}
    recipient_ids = {row.recipient_id for row in rows if row.recipient_id}
    inactive = set(
        User.objects.filter(pk__in=recipient_ids, is_active=False).values_list("pk", flat=True)
    )
    note_ids = {row.notification_id for row in rows if row.notification_id}
    notes = list(Notification.objects.filter(pk__in=note_ids)) if note_ids else []
    in_scope = {note.pk for note in selectors.notifications_in_scope(notes)}
    for row in rows:
        if row.recipient_id in inactive:
            stale[row.pk] = INACTIVE
        elif row.notification_id in note_ids and row.notification_id not in in_scope:
            stale[row.pk] = OUT_OF_SCOPE
    return stale


Flush = Callable[[list[OutboxMessage], dict[int, Result]], None]


def deliver(rows: list[OutboxMessage], *, report: SendReport, flush: Flush) -> None:
    """Send `rows` over one connection, outside any transaction, handing the answers to
    `flush` every RECORD_EVERY messages (a sender killed mid-batch then resends at most that
    many). A row handed over without a result was not tried (the connection broke, or half
    the lease is spent): it is released."""
    transport = open_transport()
    try:
        transport.open()
    except Exception as error:  # relay down, refused, TLS or login failure: all transient
        answer = f"could not reach the relay: {type(error).__name__}: {error}"[:1000]
        logger.warning("outbox: %s", answer)
        flush(rows, {row.pk: Result(RETRY, answer) for row in rows})
        return
    report.connections += 1
    deadline = time.monotonic() + lease().total_seconds() / 2
    done: list[OutboxMessage] = []
    results: dict[int, Result] = {}
    tried = 0
    try:
        for row in rows:
            message = build_message(row)
            envelope = row.envelope if row.envelope is not None else message.recipients()
            results[row.pk] = result = transport.send(message, envelope)
            done.append(row)
            tried += 1
            if result.broken or time.monotonic() > deadline:
                break  # the rest go back: no connection, or the lease could run out mid-send
            if len(done) >= RECORD_EVERY:
                flush(done, results)
                done, results = [], {}
    finally:
        transport.close()
    flush(done + rows[tried:], results)


def _recorded(row: OutboxMessage, result: Result | None, now: datetime) -> dict[str, Any]:
    """A row's columns after its try (None: released untried)."""
    values = {name: getattr(row, name) for name in RECORDED} | {"claim": ""}
    if result is None:
        return values | {"next_try_at": now}
    values |= {
        "attempts": row.attempts + 1,
        "last_attempt_at": now,
        "response": result.response,
        "refused": {**row.refused, **result.refused},
    }
    if result.outcome == SENT:
        return values | {"status": OutboxMessage.Status.SENT, "sent_at": now, "envelope": None}
    if result.outcome == FAILED:
        return values | {"status": OutboxMessage.Status.FAILED}
    failing_since = row.failing_since or now
    values |= {"failing_since": failing_since}
    if result.deferred is not None:
        values["envelope"] = result.deferred
    if now - failing_since >= GIVE_UP_AFTER:
        return values | {"status": OutboxMessage.Status.GIVEN_UP}
    return values | {"next_try_at": now + retry_delay(row.attempts + 1)}


def record(
    *,
    token: str,
    rows: list[OutboxMessage],
    results: dict[int, Result],
    stale: dict[int, str],
    now: datetime,
    report: SendReport,
) -> None:
    """Write every row's answer in one UPDATE (a short transaction), for the rows still
    holding this sender's claim: one whose lease ran out belongs to whoever claimed it next."""
    if not rows:
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # An answer lost with the database's last moments only means a resend with the
            # same Message-ID, which the outbox promises anyway: no need to wait for the disk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        mine = set(
            OutboxMessage.objects.select_for_update()
            .filter(pk__in=[row.pk for row in rows], claim=token)
            .values_list("pk", flat=True)
        )
        updates: dict[int, dict[str, Any]] = {}
        for row in rows:
            if row.pk not in mine:
                continue
            if row.pk in stale:
                values = {name: getattr(row, name) for name in RECORDED}
                updates[row.pk] = values | {
                    "claim": "",
                    "status": OutboxMessage.Status.CANCELLED,
                    "response": stale[row.pk],
                }
            else:
                updates[row.pk] = _recorded(row, results.get(row.pk), now)
            _count(report, updates[row.pk]["status"], row.pk in results, row.pk in stale)
        pks = list(updates)
        bulk.update_rows(
            OutboxMessage, pks, {name: [updates[pk][name] for pk in pks] for name in RECORDED}
        )


def _count(report: SendReport, status: str, tried: bool, stale: bool) -> None:
    if stale:
        report.cancelled += 1
    elif not tried:
        report.released += 1
    elif status == OutboxMessage.Status.SENT:
        report.sent += 1
    elif status == OutboxMessage.Status.FAILED:
        report.failed += 1
    elif status == OutboxMessage.Status.GIVEN_UP:
        report.given_up += 1
    else:
        report.retried += 1


def send_due(*, now: datetime | None = None, limit: int = BATCH_SIZE) -> SendReport:
    """Claim, send and record one batch of due messages (see the module's docstring)."""
    report = SendReport()
    token, rows = claim_due(now=now or timezone.now(), limit=limit)
    if not rows:
        return report
    report.claimed = len(rows)
    stale = _stale(rows)
    if stale:
        settled = [row for row in rows if row.pk in stale]
        record(
            token=token, rows=settled, results={}, stale=stale, now=timezone.now(), report=report
        )

    def flush(chunk: list[OutboxMessage], results: dict[int, Result]) -> None:
        record(
            token=token, rows=chunk, results=results, stale={}, now=timezone.now(), report=report
        )

    deliver([row for row in rows if row.pk not in stale], report=report, flush=flush)
    return report


def send_all_due(*, limit: int = BATCH_SIZE, max_seconds: float = 50.0) -> SendReport:
    """Batches until nothing is due (or `max_seconds` passed: the next kick or the minute
    sweep carries on). Safe to run in any number of workers at once."""
    total = SendReport()
    started = time.monotonic()
    while True:
        report = send_due(limit=limit)
        total.add(report)
        done = report.claimed < limit or report.sent + report.failed + report.cancelled == 0
        if done or time.monotonic() - started > max_seconds:
            return total
