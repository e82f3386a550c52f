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
    monkeypatch.setattr(services, "BATCH_SIZE", 3)
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
