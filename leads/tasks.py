"""Lead tasks: routing, the lead sweeps and import housekeeping (thin wrappers over
leads.assignment, leads.sweeps and leads.services).

Every task is idempotent and safe to run concurrently: the services claim their rows with
SKIP LOCKED and stamp them in the same transaction, or delete rows past a cutoff.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from crm.services import job_run
from leads import assignment, services, sweeps


@shared_task
def assign_leads_task(lead_ids: list[int]) -> int:
    """Route one batch of new MQLs (enqueued once per batch after the MQL transaction
    commits). Leads already routed, or held by another worker, are skipped."""
    return assignment.assign_leads(lead_ids=lead_ids).assigned


@shared_task
def assign_unassigned_leads_task() -> dict[str, int]:
    """Every minute: route every unassigned MQL (missed triggers, freed capacity)."""
    with job_run("assign_unassigned_leads") as counts:
        result = assignment.assign_leads()
        counts.update(
            assigned=result.assigned,
            unassignable=result.unassignable,
            newly_unassignable=result.newly_unassignable,
            recovered=result.recovered,
        )
    return counts


@shared_task
def check_first_contact_sla_task() -> dict[str, int]:
    """Every minute: speed-to-lead breaches → owner, then after the delay → manager (once)."""
    with job_run("check_first_contact_sla") as counts:
        counts.update(sweeps.check_first_contact_sla(now=timezone.now()))
    return counts


@shared_task
def recycle_zombie_leads_task() -> dict[str, int]:
    """Daily: recycle new/MQL leads with no engagement or activity for N days."""
    with job_run("recycle_zombie_leads") as counts:
        counts.update(sweeps.recycle_zombie_leads(now=timezone.now()))
    return counts


@shared_task
def purge_import_records_task() -> dict[str, int]:
    """Nightly: drop expired Idempotency-Key records and old CSV uploads. Safe to run twice or
    concurrently (plain deletes of rows past a cutoff)."""
    with job_run("purge_import_records") as counts:
        counts.update(services.purge_import_records(now=timezone.now()))
    return dict(counts)
