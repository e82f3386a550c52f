"""The transactional outbox of webhooks: the services that change records call
`record_events` inside their own transaction, so an event exists exactly when its change
committed, and a rolled-back change leaves none.

Set-based: one call for any number of records of one model costs a fixed number of queries
(the active subscriptions; when one listens, the records' payloads, one INSERT of events and
one of deliveries), whatever the size of the batch. No subscriber, one query and no rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from crm.bulk import insert_rows
from webhooks import registry
from webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookEvent, WebhookSubscription


def record_events(
    *,
    event: str,
    model: type[models.Model],
    ids: Iterable[int],
    previous: Mapping[int, Mapping[str, Any]] | None = None,
    now: datetime | None = None,
) -> int:
    """Write one `event` per record (`model`, `ids`) and a delivery for every active
    subscription listening to it; returns how many events were written.

    Call it inside the transaction of the change, after the change (the payload is the
    record as it is now). `previous` is {pk: {field: old value}} of the changed fields.
    Deliveries go out from a worker after the commit (kicked here, swept by beat).
    """
    if event not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event {event!r}")
    ids = list(dict.fromkeys(ids))
    if not ids:
        return 0
    listening = [
        pk
        for pk, events in WebhookSubscription.objects.filter(is_active=True).values_list(
            "pk", "events"
        )
        if event in events
    ]
    if not listening:
        return 0
    kind = registry.kind_for(model)
    objects = kind.serialize(ids)
    now = now or timezone.now()
    previous = previous or {}
    rows = [
        (
            uuid.uuid4(),
            pk,
            {"object": {"object": kind.name, **objects[pk]}, "previous": _json(previous.get(pk))},
        )
        for pk in ids
        if pk in objects
    ]
    return write_events(
        event=event, record_type=kind.label, rows=rows, subscription_ids=listening, now=now
    )


def write_events(
    *,
    event: str,
    record_type: str,
    rows: list[tuple[uuid.UUID, Any, dict[str, Any]]],
    subscription_ids: list[int],
    now: datetime,
) -> int:
    """INSERT the events (id, record id, data) and one delivery per event and subscription:
    two statements, in the caller's transaction (or one of their own)."""
    if not rows or not subscription_ids:
        return 0
    with transaction.atomic(savepoint=False):
        insert_rows(
            WebhookEvent,
            {
                "id": [event_id for event_id, _, _ in rows],
                "type": [event] * len(rows),
                "record_type": [record_type] * len(rows),
                "record_id": [str(pk) for _, pk, _ in rows],
                "data": [data for _, _, data in rows],
                "created_at": [now] * len(rows),
            },
        )
        pairs = [(sub, event_id, pk) for sub in subscription_ids for event_id, pk, _ in rows]
        insert_rows(
            WebhookDelivery,
            {
                "subscription_id": [sub for sub, _, _ in pairs],
                "event_id": [event_id for _, event_id, _ in pairs],
                "record_key": [f"{record_type}:{pk}" for _, _, pk in pairs],
                "state": [WebhookDelivery.State.PENDING] * len(pairs),
                "attempts": [0] * len(pairs),
                "next_attempt_at": [now] * len(pairs),
                "last_error": [""] * len(pairs),
                "created_at": [now] * len(pairs),
            },
        )
    transaction.on_commit(kick_delivery)
    return len(rows)


def _json(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """Old field values as JSON keeps them (dates and decimals as strings, like the API)."""
    if not value:
        return {}
    loaded: dict[str, Any] = json.loads(json.dumps(dict(value), cls=DjangoJSONEncoder))
    return loaded


def kick_delivery() -> None:
    """Ask a worker to deliver now (after the commit). Beat's 10-second sweep is the safety
    net, so a lost message delays deliveries but loses none."""
    # Cycle: webhooks.tasks imports webhooks.services, which writes events through here.
    from webhooks.tasks import deliver_webhooks_task

    deliver_webhooks_task.delay()
