"""Stale-deal tasks (registered with Celery through leads.tasks, which imports this module)."""

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
