"""Scoring Celery tasks: thin wrappers over scoring.services."""

from __future__ import annotations

from celery import shared_task

from scoring import services


@shared_task
def rescore_leads_task(job_id: int) -> None:
    """Rescore every lead for a rule change. Safe to run twice or concurrently: batches are
    claimed with SKIP LOCKED and marked done with their scores; a superseded job stops."""
    services.run_rescore_job(job_id=job_id)


@shared_task
def decay_engagement_task() -> dict[str, int]:
    """Nightly decay (and rule windows). Idempotent: scores are a pure function of the clock."""
    return services.decay_engagement()
