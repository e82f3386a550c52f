"""Core Celery tasks: thin wrappers over crm.services and crm.outbox."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from crm import outbox, services


@shared_task
def send_outbox_task() -> dict[str, int]:
    """Kicked after every commit that queued e-mail: send what is due. Safe to run in any
    number of workers at once (rows are claimed with SKIP LOCKED and leased)."""
    return outbox.send_all_due().as_counts()


@shared_task
def sweep_outbox_task() -> dict[str, int]:
    """Every minute: send whatever is due (retries whose time has come, rows whose kick was
    lost, leases of dead senders that ran out). Same claims as `send_outbox_task`."""
    with services.job_run("sweep_outbox") as counts:
        counts.update(outbox.send_all_due().as_counts())
    return counts


@shared_task
def send_email_digests_task() -> dict[str, int]:
    """Every quarter hour (time zones are not all whole hours off UTC): write the daily
    digests that are due. Safe to run twice: users are claimed and stamped."""
    with services.job_run("send_email_digests") as counts:
        counts.update(outbox.send_digests(now=timezone.now()))
    return counts


@shared_task
def email_notifications_task(notification_ids: list[int]) -> int:
    """The task the code before the outbox queued after each notification. Kept for one
    release so messages queued before an upgrade are still e-mailed; delete after the next."""
    return services.email_waiting_notifications(
        notification_ids=notification_ids, now=timezone.now()
    )


@shared_task
def purge_old_job_runs_task() -> int:
    return services.purge_old_job_runs(now=timezone.now())
