"""Two workers on one rescore job at the same time, and two decay runs at once (PostgreSQL:
real row locks and SKIP LOCKED)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from leads.models import Lead
from scoring import services
from scoring.models import RescoreJob, ScoreHistory
from tests.factories import LeadFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_threads(target, count=2):
    errors = []

    def run():
        try:
            target()
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_two_workers_share_one_rescore_job_without_double_work(marketing, monkeypatch):
    monkeypatch.setattr(services.scores, "BATCH_SIZE", 3)
    LeadFactory.create_batch(20, country="US")
    services.create_rule(
        by=marketing,
        name="US",
        category="fit",
        field="country",
        operator="equals",
        value="US",
        points=7,
    )
    job = RescoreJob.objects.latest("pk")
    _in_threads(lambda: services.run_rescore_job(job_id=job.pk))
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("done", 20, 20)
    assert set(Lead.objects.values_list("score", flat=True)) == {7}
    assert ScoreHistory.objects.count() == 20


def test_two_decay_runs_at_once_write_one_history_row_per_lead(marketing):
    from datetime import timedelta

    from django.utils import timezone

    from scoring.models import EngagementEvent

    services.create_rule(
        by=marketing, name="Opens", category="engagement", event_type="email_opened", points=10
    )
    long_ago = timezone.now() - timedelta(days=40)
    leads = LeadFactory.create_batch(6)
    for lead in leads:
        EngagementEvent.objects.create(
            external_id=f"e{lead.pk}", lead=lead, type="email_opened", occurred_at=long_ago
        )
    services.score_leads(lead_ids=[lead.pk for lead in leads])
    before = ScoreHistory.objects.count()
    assert set(Lead.objects.values_list("engagement_score", flat=True)) == {8}  # 10 × 0.75
    later = timezone.now() + timedelta(days=31)
    _in_threads(lambda: services.decay_engagement(now=later))
    assert set(Lead.objects.values_list("engagement_score", flat=True)) == {6}  # 10 × 0.75²
    assert ScoreHistory.objects.count() == before + 6


def test_a_lead_held_by_another_transaction_is_scored_once_it_lets_go(marketing):
    """Event ingest skips leads another transaction holds, then scores them after its own
    commit: the held lead's score still counts the event when the request returns."""
    import time
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from scoring.events import ingest_events

    services.create_rule(
        by=marketing, name="Opens", category="engagement", event_type="email_opened", points=5
    )
    free, held = LeadFactory(), LeadFactory()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Lead.objects.select_for_update().get(pk=held.pk)
                holding.set()
                release.wait(timeout=10)
                time.sleep(0.3)  # still holding while the request's first pass runs
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(timeout=10)
    at = (timezone.now() - timedelta(minutes=1)).isoformat()
    events = [
        {
            "id": f"h-{lead.pk}",
            "lead": {"email": lead.email},
            "type": "email_opened",
            "occurred_at": at,
        }
        for lead in (free, held)
    ]
    release.set()
    result = ingest_events(events=events, user=marketing)
    holder.join()
    assert result.count("created") == 2
    assert dict(Lead.objects.values_list("pk", "score")) == {free.pk: 5, held.pk: 5}
    assert ScoreHistory.objects.filter(lead_id__in=[free.pk, held.pk]).count() == 2
