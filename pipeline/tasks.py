"""Pipeline tasks: the stale-deal sweep (a thin wrapper over pipeline.stale)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from crm.services import job_run
from pipeline import stale


@shared_task
def sweep_stale_opportunities_task() -> dict[str, int]:
    """Hourly: flag stale deals, escalate, auto-close if enabled. Idempotent: every step
    claims its rows (SKIP LOCKED or the deal's version) and stamps them once."""
    with job_run("sweep_stale_opportunities") as counts:
        counts.update(stale.sweep_stale_opportunities(now=timezone.now()))
    return counts


# The task's name until it moved here: a message beat queued under it before a deploy may
# still be waiting in the broker, and a worker must know what to run for it.
@shared_task(name="pipeline.stale_tasks.sweep_stale_opportunities_task")
def sweep_stale_opportunities_legacy_task() -> dict[str, int]:
    """The old name of `sweep_stale_opportunities_task` (same sweep, same guarantees)."""
    return sweep_stale_opportunities_task()
