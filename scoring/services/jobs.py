"""Scoring jobs: the rescore of every lead after a rule change (planned in batches, claimed by
workers) and the nightly engagement decay. Both own their transactions, so both hand their
threshold crossings to the lead lifecycle (scoring.handoff) before each batch commits.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import OrgSettings
from crm.services import job_run
from leads.models import Lead
from scoring import handoff
from scoring.models import RescoreBatch, RescoreJob, RuleSetVersion, ScoreHistory
from scoring.services import scores
from scoring.services.scores import current_rule_set, score_queryset


def queue_rescore(*, version: RuleSetVersion) -> RescoreJob:
    """Queue the rescore of every lead under `version` (in the caller's transaction; the task
    starts once it commits). Older queued/running jobs are superseded: the new job rescores
    everything anyway."""
    RescoreJob.objects.filter(status__in=RescoreJob.ACTIVE).update(
        status=RescoreJob.Status.SUPERSEDED, finished_at=timezone.now()
    )
    job = RescoreJob.objects.create(version=version)
    _plan_batches(job)
    # Imported here: scoring.tasks imports scoring.services (this package) at its top.
    from scoring.tasks import rescore_leads_task

    rescore_leads_task.delay_on_commit(job.pk)
    return job


def _plan_batches(job: RescoreJob) -> None:
    """Cut the current leads into pk ranges of scores.BATCH_SIZE (one id scan, one INSERT).
    Leads created later are scored when they are created."""
    size = scores.BATCH_SIZE
    ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    batches = [
        RescoreBatch(job=job, first_pk=ids[start], last_pk=ids[min(start + size, len(ids)) - 1])
        for start in range(0, len(ids), size)
    ]
    RescoreBatch.objects.bulk_create(batches)
    RescoreJob.objects.filter(pk=job.pk).update(total=len(ids))
    job.total = len(ids)


def run_rescore_job(*, job_id: int) -> RescoreJob | None:
    """Rescore all leads for a rule change, one claimed batch per transaction.

    Safe to run twice or concurrently: a batch is claimed with SELECT … FOR UPDATE SKIP
    LOCKED and marked done in the transaction that writes its scores, so parallel workers
    split the job and a crashed worker's batch is simply claimed again. A job superseded by
    a newer one stops (the newer one covers every lead)."""
    while True:
        with transaction.atomic():
            job = RescoreJob.objects.filter(pk=job_id).first()
            if job is None or not job.is_active:
                return job
            now = timezone.now()
            if RescoreJob.objects.filter(pk__gt=job.pk).exists():
                RescoreJob.objects.filter(pk=job.pk, status__in=RescoreJob.ACTIVE).update(
                    status=RescoreJob.Status.SUPERSEDED, finished_at=now
                )
                job.refresh_from_db()
                return job
            batch = (
                RescoreBatch.objects.select_for_update(skip_locked=True)
                .filter(job_id=job.pk, done_at__isnull=True)
                .order_by("first_pk")
                .first()
            )
            if batch is None:
                # Nothing left to claim: finished, or the last batches are in other hands
                # (then the worker that finishes them closes the job).
                if not RescoreBatch.objects.filter(job_id=job.pk, done_at__isnull=True).exists():
                    RescoreJob.objects.filter(pk=job.pk, status__in=RescoreJob.ACTIVE).update(
                        status=RescoreJob.Status.DONE, finished_at=now
                    )
                job.refresh_from_db()
                return job
            scored = score_queryset(
                Lead.objects.filter(pk__gte=batch.first_pk, pk__lte=batch.last_pk),
                reason=ScoreHistory.Reason.RESCORE,
                now=now,
            )
            # A lowered threshold or a new rule: leads now over it may become MQL.
            handoff.lifecycle().qualify(crossings=scored.crossed)
            RescoreBatch.objects.filter(pk=batch.pk).update(done_at=now)
            # Last statement before commit: the job row lock is held only for an instant.
            RescoreJob.objects.filter(pk=job.pk).update(
                done=F("done") + len(scored.scored),
                status=RescoreJob.Status.RUNNING,
                started_at=Coalesce("started_at", Value(now)),
            )


def decay_engagement(
    *, now: datetime | None = None, batch_size: int | None = None
) -> dict[str, int]:
    """Nightly: rescore every lead that has engaged, so decay (−percent per `days` without
    activity) and rule windows take effect. Fit never decays. The decayed score is a pure
    function of the clock and the last engagement, so a second or concurrent run writes the
    same numbers (and no extra history rows); row locks serialise overlapping batches."""
    now = now or timezone.now()
    batch_size = batch_size or scores.BATCH_SIZE  # read at call time: tests shrink it
    with job_run("scoring.decay") as counts:
        counts.update(leads=0, changed=0)
        cursor = 0
        rule_set, org = current_rule_set(), OrgSettings.load()
        while True:
            with transaction.atomic():
                ids = list(
                    Lead.objects.filter(pk__gt=cursor, last_engaged_at__isnull=False)
                    .order_by("pk")
                    .values_list("pk", flat=True)[:batch_size]
                )
                if not ids:
                    break
                scored = score_queryset(
                    Lead.objects.filter(pk__any=ids),
                    reason=ScoreHistory.Reason.DECAY,
                    now=now,
                    rule_set=rule_set,
                    org=org,
                )
                handoff.lifecycle().qualify(crossings=scored.crossed)
                counts["leads"] += len(ids)
                counts["changed"] += scored.changed
                cursor = ids[-1]
    return counts
