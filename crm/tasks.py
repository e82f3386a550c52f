"""Core Celery tasks: thin wrappers over crm.services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from crm import services


@shared_task
def email_notifications_task(notification_ids: list[int]) -> int:
    """Safe to run twice: each notification is claimed (`emailed_at`) before it is sent."""
    return services.send_notification_emails(notification_ids=notification_ids, now=timezone.now())


@shared_task
def purge_old_job_runs_task() -> int:
    return services.purge_old_job_runs(now=timezone.now())


@shared_task
def send_due_reminders_task(limit: int = 200, max_batches: int | None = None) -> dict[str, int]:
    """Every minute: deliver due task reminders (in-app, then e-mail). Safe to run twice or
    concurrently: rows are claimed with SKIP LOCKED and a reminder's delivery row is unique."""
    from crm.reminders import send_due_reminders

    with services.job_run("send_due_reminders") as counts:
        counts.update(send_due_reminders(now=timezone.now(), limit=limit, max_batches=max_batches))
    return counts
