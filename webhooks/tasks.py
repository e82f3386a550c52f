"""Webhook Celery tasks: thin wrappers over webhooks.delivery and webhooks.services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from crm.services import job_run
from webhooks import delivery, services


@shared_task(bind=True)
def deliver_webhooks_task(self: Any, batch: int = delivery.BATCH) -> dict[str, int]:
    """One delivery pass (claim a batch, send, record). Kicked after every commit that wrote
    events, and every 10 s by beat for retries. Safe to run twice or concurrently: claims
    are SKIP LOCKED leases. A full batch queues the next pass before sending, so idle
    workers join in; a pass that did something queues one more for what it unblocked
    (the next event of each record). Follow-ups stay on the queue this pass came from."""
    queue = (getattr(self.request, "delivery_info", None) or {}).get("routing_key")
    queued = False

    def follow_up() -> None:
        nonlocal queued
        queued = True
        deliver_webhooks_task.apply_async(kwargs={"batch": batch}, queue=queue)

    if self.request.is_eager:  # tests and CELERY_TASK_ALWAYS_EAGER: one pass, no recursion
        return delivery.deliver_due(batch=batch)
    counts = delivery.deliver_due(batch=batch, on_full=follow_up)
    if counts["claimed"] and not queued:
        follow_up()
    return counts


@shared_task
def purge_webhook_log_task() -> dict[str, int]:
    """Nightly: drop events (and their deliveries and attempts) older than 30 days."""
    with job_run("purge_webhook_log") as counts:
        counts["events"] = services.purge_webhook_log(now=timezone.now())
    return counts
