"""Activity Celery tasks: thin wrappers over activities.reminders."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from activities.reminders import send_due_reminders
from crm.services import job_run


@shared_task
def send_due_reminders_task(limit: int = 200, max_batches: int | None = None) -> dict[str, int]:
    """Every minute: deliver due task reminders (in-app, then e-mail). Safe to run twice or
    concurrently: rows are claimed with SKIP LOCKED and a reminder's delivery row is unique."""
    with job_run("send_due_reminders") as counts:
        counts.update(send_due_reminders(now=timezone.now(), limit=limit, max_batches=max_batches))
    return counts


# The name this task had before it moved from crm.tasks. Beat sent it every minute, so a
# message published just before an upgrade can reach an upgraded worker (each expires after
# 55 s). Served under the old name for one release; delete after the next one ships.
@shared_task(name="crm.tasks.send_due_reminders_task")
def send_due_reminders_legacy_task(
    limit: int = 200, max_batches: int | None = None
) -> dict[str, int]:
    """The old name of `send_due_reminders_task` (same work, same claims)."""
    return send_due_reminders_task(limit=limit, max_batches=max_batches)
