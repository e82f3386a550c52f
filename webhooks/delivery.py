"""Delivering webhook events: claim, send outside the claim, record (STYLE.md 7b).

One pass (`deliver_due`) claims up to a batch of due deliveries with `FOR UPDATE SKIP
LOCKED` and leases them (`next_attempt_at` moves past the send), commits,
re-checks that the acting user may see each record, resolves and pins the target (SSRF
guard), POSTs each signed event (10 s timeout, no redirects), then records every answer in
one transaction, set-based. A worker killed mid-send leaves its claim pending: when the
lease runs out another worker sends the same event ids again (at-least-once).

Order: per subscription, only the oldest pending delivery of a record is ever due, so the
events of one record arrive in order, each after the previous one was delivered or given up.
Retries: 429, 5xx, timeouts and connection errors, with exponential backoff and jitter
(never sooner than Retry-After) for at least 24 hours; other answers are final. A run of
failures spanning 3 days disables the subscription and tells its owner.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone

from crm.bulk import insert_rows, update_rows
from crm.models import User
from crm.services import notify
from webhooks import registry, signing, targets
from webhooks.models import TEST_EVENT, WebhookAttempt, WebhookDelivery, WebhookSubscription

BATCH = 100
LEASE = timedelta(minutes=2)  # longer than a batch may take (SEND_BUDGET + one timeout)
SEND_BUDGET_SECONDS = 60.0
TIMEOUT_SECONDS = 10.0
RETRY_FOR = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=3)
BACKOFF_FIRST_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 3600.0
RETRY_AFTER_CAP_SECONDS = 24 * 3600.0
READ_LIMIT_BYTES = 4096
EXCERPT_CHARS = 1000
DEFERRED = "deferred"  # not attempted in this pass (target down, or out of time)

Outcome = WebhookAttempt.Outcome
State = WebhookDelivery.State


@dataclass
class Claim:
    """Deliveries of one subscription, leased to this worker until `now + LEASE`."""

    subscription: WebhookSubscription
    deliveries: list[WebhookDelivery]
    now: datetime


@dataclass
class Result:
    """What happened to one delivery in this pass."""

    delivery: WebhookDelivery
    outcome: str
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None


def due_deliveries(now: datetime) -> QuerySet[WebhookDelivery]:
    """Pending deliveries of active subscriptions that are due and are the oldest pending one
    of their record for their subscription (the ordering rule)."""
    older = WebhookDelivery.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        record_key=OuterRef("record_key"),
        state=State.PENDING,
        pk__lt=OuterRef("pk"),
    )
    return WebhookDelivery.objects.filter(
        state=State.PENDING, next_attempt_at__lte=now, subscription__is_active=True
    ).filter(~Exists(older))


@transaction.atomic
def claim(*, now: datetime, batch: int = BATCH) -> list[Claim]:
    """Lease up to `batch` due deliveries that no other worker is claiming right now (SKIP
    LOCKED), oldest first, grouped by subscription; [] when nothing is due."""
    rows = list(
        due_deliveries(now)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("event")
        .order_by("next_attempt_at", "pk")[:batch]
    )
    if not rows:
        return []
    WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
        next_attempt_at=now + LEASE
    )
    subscriptions = WebhookSubscription.objects.select_related("acting_user", "owner").in_bulk(
        {row.subscription_id for row in rows}
    )
    groups: dict[int, list[WebhookDelivery]] = defaultdict(list)
    for row in rows:
        groups[row.subscription_id].append(row)
    return [
        Claim(subscription=subscriptions[pk], deliveries=group, now=now)
        for pk, group in groups.items()
    ]


def visible_deliveries(claim: Claim) -> set[int]:
    """The deliveries whose record the acting user may see now (one query per kind of
    record): the payload was written at the change, the scope is checked at the send."""
    user = claim.subscription.acting_user
    wanted: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    visible: set[int] = set()
    for delivery in claim.deliveries:
        event = delivery.event
        if not event.record_type:  # a test event names no record
            visible.add(delivery.pk)
        else:
            wanted[event.record_type][int(event.record_id)].append(delivery.pk)
    if not user.is_active:
        return visible
    for label, by_record in wanted.items():
        kind = registry.kind_for_label(label)
        if kind is None:
            continue
        scope = kind.model._default_manager.visible_to(user)  # type: ignore[attr-defined]
        for pk in scope.filter(pk__in=list(by_record)).values_list("pk", flat=True):
            visible.update(by_record[pk])
    return visible


def send(claim: Claim, *, deadline: float | None = None) -> list[Result]:
    """POST every claimed delivery the subscription may still receive; no database writes
    and no locks held. Stops early (the rest deferred) when the target is down or asks to
    slow down, and at `deadline` (time.monotonic(); default: SEND_BUDGET_SECONDS from now)."""
    subscription = claim.subscription
    visible = visible_deliveries(claim)
    results: list[Result] = []
    to_send: list[WebhookDelivery] = []
    for delivery in claim.deliveries:
        kind = delivery.event.type
        if kind != TEST_EVENT and kind not in subscription.events:
            results.append(Result(delivery, Outcome.SKIPPED, error="No longer subscribed."))
        elif delivery.pk not in visible:
            results.append(
                Result(delivery, Outcome.SKIPPED, error="Not visible to the acting user.")
            )
        else:
            to_send.append(delivery)
    if not to_send:
        return results
    try:
        target = targets.pin(subscription.url)
    except targets.UnsafeTarget as error:
        return results + [Result(d, Outcome.FAILED, error=f"Refused: {error}") for d in to_send]
    except LookupError as error:
        return results + _down(to_send, error=str(error))
    secrets = subscription.signing_secrets(claim.now)
    deadline = deadline if deadline is not None else time.monotonic() + SEND_BUDGET_SECONDS
    return results + _post_all(to_send, target, secrets, deadline=deadline)


def _post_all(
    deliveries: list[WebhookDelivery],
    target: targets.Target,
    secrets: list[str],
    *,
    deadline: float,
) -> list[Result]:
    results: list[Result] = []
    headers = {"User-Agent": f"Plumb-Webhooks/{settings.PLUMB_VERSION}"}
    with httpx.Client(
        timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False, headers=headers
    ) as client:
        for index, delivery in enumerate(deliveries):
            if time.monotonic() > deadline:
                results += [Result(d, DEFERRED) for d in deliveries[index:]]
                break
            result = post(client, target, delivery, secrets)
            results.append(result)
            # Down, or asking us to slow down: the rest wait with it instead of hammering.
            if result.outcome == Outcome.RETRY and (
                result.status_code is None or result.status_code == 429
            ):
                results += [
                    Result(d, DEFERRED, error=result.error, retry_after=result.retry_after)
                    for d in deliveries[index + 1 :]
                ]
                break
    return results


def _down(deliveries: list[WebhookDelivery], *, error: str) -> list[Result]:
    """The first delivery is tried and failed with `error`, the others wait with it."""
    first, rest = deliveries[0], deliveries[1:]
    return [Result(first, Outcome.RETRY, error=error[:300])] + [
        Result(d, DEFERRED, error=error[:300]) for d in rest
    ]


def post(
    client: httpx.Client, target: targets.Target, delivery: WebhookDelivery, secrets: list[str]
) -> Result:
    """One signed POST of one event: its answer, classified."""
    event = delivery.event
    body = json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        **target.headers,
        "Content-Type": "application/json",
        **signing.headers(
            event_id=str(event.pk), secrets=secrets, body=body, timestamp=int(time.time())
        ),
    }
    started = time.perf_counter()
    try:
        with client.stream(
            "POST", target.url, content=body, headers=headers, extensions=target.extensions
        ) as response:
            raw = _read_some(response)
    except httpx.TimeoutException:
        return Result(
            delivery, Outcome.RETRY, duration_ms=_ms(started), error="Timed out after 10 s."
        )
    except httpx.HTTPError as error:
        reason = f"Connection failed: {type(error).__name__}: {error}"
        return Result(delivery, Outcome.RETRY, duration_ms=_ms(started), error=reason[:300])
    return classify(
        delivery,
        status=response.status_code,
        duration_ms=_ms(started),
        excerpt=raw.decode("utf-8", "replace")[:EXCERPT_CHARS],
        location=response.headers.get("Location", ""),
        retry_after=response.headers.get("Retry-After"),
    )


def classify(
    delivery: WebhookDelivery,
    *,
    status: int,
    duration_ms: int,
    excerpt: str,
    location: str = "",
    retry_after: str | None = None,
) -> Result:
    """2xx delivered; 429 and 5xx retried (Retry-After kept); redirects and other answers
    final, with the reason a person needs to fix it."""
    result = Result(delivery, Outcome.FAILED, status, duration_ms, excerpt)
    if 200 <= status < 300:
        result.outcome = Outcome.DELIVERED
    elif status == 429 or status >= 500:
        result.outcome = Outcome.RETRY
        result.retry_after = parse_retry_after(retry_after)
        result.error = f"HTTP {status}: will retry."
    elif 300 <= status < 400:
        result.error = (
            f"HTTP {status}: redirects are not followed ({location[:150] or 'no Location'}); "
            "point the subscription at the final URL."
        )
    else:
        result.error = f"HTTP {status}: not retried (only 429, 5xx and network errors are)."
    return result


def _read_some(response: httpx.Response) -> bytes:
    """The first READ_LIMIT_BYTES of the answer (a huge or endless body is not read)."""
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= READ_LIMIT_BYTES:
            break
    return b"".join(chunks)[:READ_LIMIT_BYTES]


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (None when absent or bad)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """Exponential (10 s, 20 s, 40 s … capped at 1 h) with jitter (a random half to whole
    step, so a fleet of failures does not come back at once); never before Retry-After."""
    step = min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(0, attempt - 1))
    delay = random.uniform(step / 2, step)  # nosec B311 -- jitter, not a secret
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
    return timedelta(seconds=delay)


# --- recording the answers --------------------------------------------------------------------


@dataclass
class _Row:
    """A delivery's columns after this pass."""

    state: str
    attempts: int
    next_attempt_at: datetime
    first_attempted_at: datetime | None
    last_attempted_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_duration_ms: int | None
    last_error: str


def _settle(result: Result, now: datetime) -> tuple[_Row, str | None]:
    """The delivery's new state and the attempt's logged outcome (None: not attempted)."""
    d = result.delivery
    if result.outcome == DEFERRED:
        wait = backoff(d.attempts + 1, result.retry_after) if result.error else timedelta(0)
        row = _Row(
            State.PENDING,
            d.attempts,
            now + wait,
            d.first_attempted_at,
            d.last_attempted_at,
            d.delivered_at,
            d.last_status_code,
            d.last_duration_ms,
            (result.error or d.last_error)[:300],
        )
        return row, None
    if result.outcome == Outcome.SKIPPED:
        row = _Row(State.SKIPPED, d.attempts, now, d.first_attempted_at, d.last_attempted_at,
                   None, None, None, result.error[:300])  # fmt: skip
        return row, Outcome.SKIPPED
    attempts, first = d.attempts + 1, d.first_attempted_at or now
    outcome, state, error, next_at = result.outcome, State.FAILED, result.error, now
    if outcome == Outcome.DELIVERED:
        state = State.DELIVERED
    elif outcome == Outcome.RETRY and now - first < RETRY_FOR:
        state, next_at = State.PENDING, now + backoff(attempts, result.retry_after)
    elif outcome == Outcome.RETRY:
        outcome, error = Outcome.FAILED, f"Gave up after 24 hours of retries. {error}"
    row = _Row(
        state,
        attempts,
        next_at,
        first,
        now,
        now if state == State.DELIVERED else None,
        result.status_code,
        result.duration_ms,
        error[:300],
    )
    return row, outcome


@transaction.atomic
def record(claim: Claim, results: list[Result], *, now: datetime) -> dict[str, int]:
    """Write every delivery's new state (one UPDATE), the attempt log (one INSERT), and the
    subscription's failure run. Returns counts by logged outcome."""
    rows: list[tuple[int, _Row]] = []
    log: list[tuple[Result, _Row, str]] = []
    counts: dict[str, int] = defaultdict(int)
    for result in results:
        row, outcome = _settle(result, now)
        rows.append((result.delivery.pk, row))
        counts[outcome or DEFERRED] += 1
        if outcome is not None:
            log.append((result, row, outcome))
    names = list(_Row.__dataclass_fields__)
    update_rows(
        WebhookDelivery,
        [pk for pk, _ in rows],
        {name: [getattr(row, name) for _, row in rows] for name in names},
    )
    insert_rows(
        WebhookAttempt,
        {
            "delivery_id": [r.delivery.pk for r, _, _ in log],
            "subscription_id": [claim.subscription.pk] * len(log),
            "number": [row.attempts for _, row, _ in log],
            "at": [now] * len(log),
            "outcome": [outcome for _, _, outcome in log],
            "status_code": [r.status_code for r, _, _ in log],
            "duration_ms": [r.duration_ms for r, _, _ in log],
            "response_excerpt": [r.excerpt for r, _, _ in log],
            "error": [row.last_error for _, row, _ in log],
        },
    )
    _track_failure_run(claim.subscription, counts, now=now)
    return dict(counts)


def _track_failure_run(
    subscription: WebhookSubscription, counts: dict[str, int], *, now: datetime
) -> None:
    """A delivered event ends a run of failures; a failed attempt starts one (or goes on
    with it); a run spanning DISABLE_AFTER switches the subscription off, once, and tells
    its owner. Conditional UPDATEs: concurrent workers cannot disable it twice."""
    mine = WebhookSubscription.objects.filter(pk=subscription.pk)
    if counts.get(Outcome.DELIVERED):
        mine.filter(failing_since__isnull=False).update(failing_since=None)
        return
    if not (counts.get(Outcome.RETRY) or counts.get(Outcome.FAILED)):
        return
    mine.filter(failing_since__isnull=True).update(failing_since=now)
    reason = "Every delivery failed for 3 days."
    disabled = mine.filter(is_active=True, failing_since__lte=now - DISABLE_AFTER).update(
        is_active=False, disabled_at=now, disabled_reason=reason, updated_at=now
    )
    if disabled:
        _tell_owner(subscription)


def _tell_owner(subscription: WebhookSubscription) -> None:
    owner = subscription.owner
    recipients = (
        [owner]
        if owner is not None and owner.is_active
        else list(User.objects.filter(role=User.Role.ADMIN, is_active=True))
    )
    host = urlsplit(subscription.url).hostname or subscription.url
    notify(
        recipients=recipients,
        verb="webhook_disabled",
        message=f"The webhook to {host} was switched off: its deliveries failed for 3 days. "
        "Fix the receiver, then switch it back on.",
        url=reverse("webhooks:detail", args=[subscription.pk]),
        target=subscription,
    )


def deliver_due(
    *, now: datetime | None = None, batch: int = BATCH, on_full: Callable[[], None] | None = None
) -> dict[str, int]:
    """One pass: claim a batch, send it (subscription by subscription), record each
    subscription's answers. `on_full` runs when the batch was full, before sending (the task
    queues another pass there, so more workers join in)."""
    now = now or timezone.now()
    claims = claim(now=now, batch=batch)
    claimed = sum(len(c.deliveries) for c in claims)
    if on_full is not None and claimed == batch:
        on_full()
    deadline = time.monotonic() + SEND_BUDGET_SECONDS
    counts: dict[str, int] = defaultdict(int)
    for group in claims:
        for outcome, count in record(group, send(group, deadline=deadline), now=now).items():
            counts[outcome] += count
    return {"claimed": claimed, **counts}
