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
