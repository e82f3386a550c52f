"""Leads Celery tasks: thin wrappers over leads.services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from crm.services import job_run
from leads import services


@shared_task
def purge_import_records_task() -> dict[str, int]:
    """Nightly: drop expired Idempotency-Key records and old CSV uploads. Safe to run twice or
    concurrently (plain deletes of rows past a cutoff)."""
    with job_run("purge_import_records") as counts:
        counts.update(services.purge_import_records(now=timezone.now()))
    return dict(counts)
