"""Forecasting background jobs (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task

from crm.services import job_run
from forecasting import services


@shared_task
def take_weekly_snapshot_task() -> int:
    """Weekly beat job. Idempotent: one snapshot per week, reruns and overlaps write nothing."""
    with job_run("forecast_weekly_snapshot") as counts:
        snapshot, written = services.take_weekly_snapshot()
        counts["lines"] = snapshot.line_count if written else 0
        counts["already_taken"] = int(not written)
    return snapshot.pk
