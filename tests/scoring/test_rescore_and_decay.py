"""Background rescoring and nightly decay: idempotent, safe to run twice, fit never decays."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from crm.models import JobRun, OrgSettings
from leads.models import Lead
from leads.services import rescore_leads
from scoring import services
from scoring.models import EngagementEvent, RescoreJob, ScoreHistory, ScoringRule
from scoring.tasks import decay_engagement_task, rescore_leads_task
from tests.factories import LeadFactory
from tests.scoring.factories import explained

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules(marketing):
    services.create_rule(
        by=marketing,
        name="US",
        category="fit",
        field="country",
        operator="equals",
        value="US",
        points=10,
    )
    services.create_rule(
        by=marketing,
        name="Downloads",
        category="engagement",
        event_type="content_downloaded",
        points=10,
    )


def test_rescore_job_scores_every_lead_in_batches_and_a_second_run_changes_nothing(
    marketing, monkeypatch
):
    monkeypatch.setattr(services.scores, "BATCH_SIZE", 2)
    leads = LeadFactory.create_batch(5, country="US")
    services.create_rule(
        by=marketing,
        name="US",
        category="fit",
        field="country",
        operator="equals",
        value="US",
        points=10,
    )
    job = RescoreJob.objects.latest("pk")
    assert job.batches.count() == 3
    rescore_leads_task(job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("done", 5, 5)
    assert set(Lead.objects.values_list("score", flat=True)) == {10}
    assert set(Lead.objects.values_list("score_version", flat=True)) == {job.version_id}
    history = ScoreHistory.objects.count()
    rescore_leads_task(job.pk)  # redelivered message
    services.run_rescore_job(job_id=job.pk)
    assert ScoreHistory.objects.count() == history == len(leads)


def test_a_batch_done_before_a_crash_is_not_redone(rules, monkeypatch):
    monkeypatch.setattr(services.scores, "BATCH_SIZE", 2)
    LeadFactory.create_batch(4, country="US")
    services.update_rule(rule=ScoringRule.objects.get(name="US"), by=None, points=11)
    job = RescoreJob.objects.latest("pk")
    first = job.batches.order_by("first_pk").first()
    # given a worker that scored the first batch and then died
    with transaction.atomic():
        services.score_queryset(
            Lead.objects.filter(pk__gte=first.first_pk, pk__lte=first.last_pk),
            reason="rescore",
            now=timezone.now(),
        )
        job.batches.filter(pk=first.pk).update(done_at=timezone.now())
        RescoreJob.objects.filter(pk=job.pk).update(done=2, status="running")
    history = ScoreHistory.objects.count()
    # when the redelivered task runs
    rescore_leads_task(job.pk)
    # then only the second batch is rescored and the count is exact
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("done", 4, 4)
    assert ScoreHistory.objects.count() == history + 2
    assert set(Lead.objects.values_list("score", flat=True)) == {11}


def test_an_older_job_is_superseded_by_a_newer_rule_change(rules, marketing):
    LeadFactory.create_batch(3, country="US")
    older = RescoreJob.objects.latest("pk")
    services.create_rule(
        by=marketing,
        name="Big",
        category="fit",
        field="employee_count",
        operator="gte",
        value=100,
        points=5,
    )
    older.refresh_from_db()
    assert older.status == "superseded"
    services.run_rescore_job(job_id=older.pk)
    assert Lead.objects.filter(scored_at__isnull=False).exists() is False


def test_job_stops_when_a_newer_job_exists_even_if_still_marked_running(rules):
    LeadFactory.create_batch(2)
    job = RescoreJob.objects.latest("pk")
    RescoreJob.objects.filter(pk=job.pk).update(status="running")
    RescoreJob.objects.create(version=job.version, total=2)
    assert services.run_rescore_job(job_id=job.pk).status == "superseded"


def _engaged_lead(days_ago: int, downloads: int = 4) -> Lead:
    lead = LeadFactory(country="US")
    for i in range(downloads):
        EngagementEvent.objects.create(
            external_id=f"{lead.pk}-{i}",
            lead=lead,
            type="content_downloaded",
            occurred_at=timezone.now() - timedelta(days=days_ago),
        )
    rescore_leads(lead_ids=[lead.pk])  # scores, and qualifies it when it crosses
    lead.refresh_from_db()
    return lead


def test_decay_takes_a_quarter_of_engagement_per_30_quiet_days_and_never_touches_fit(rules):
    OrgSettings.objects.update_or_create(pk=1, defaults={"mql_threshold": 1000})
    lead = _engaged_lead(days_ago=1)
    assert (lead.fit_score, lead.engagement_score) == (10, 40)
    with time_machine.travel(timezone.now() + timedelta(days=61), tick=False):
        counts = decay_engagement_task()
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score, lead.score) == (10, 22, 32)  # 40 × 0.75²
    assert counts == {"leads": 1, "changed": 1}
    assert explained(lead)[-1]["points"] == -18
    assert explained(lead)[-1]["name"] == "Decay: −25 % × 2 (no activity for 60+ days)"
    run = JobRun.objects.get(job="scoring.decay")
    assert (run.status, run.counts) == ("ok", {"leads": 1, "changed": 1})


def test_decay_twice_is_the_same_as_once(rules):
    OrgSettings.objects.update_or_create(pk=1, defaults={"mql_threshold": 1000})
    lead = _engaged_lead(days_ago=40)
    later = timezone.now() + timedelta(days=1)
    services.decay_engagement(now=later)
    lead.refresh_from_db()
    first = (lead.score, lead.engagement_score)
    history = ScoreHistory.objects.count()
    second = services.decay_engagement(now=later)
    lead.refresh_from_db()
    assert (lead.score, lead.engagement_score) == first == (40, 30)
    assert second == {"leads": 1, "changed": 0}
    assert ScoreHistory.objects.count() == history


def test_decay_below_the_threshold_never_demotes_an_mql(rules):
    lead = _engaged_lead(days_ago=1, downloads=5)
    assert (lead.score, lead.stage) == (60, "mql")
    with time_machine.travel(timezone.now() + timedelta(days=95), tick=False):
        services.decay_engagement()
    lead.refresh_from_db()
    assert lead.score < 50
    assert lead.stage == "mql"


def test_leads_without_engagement_are_not_touched_by_decay(rules):
    lead = LeadFactory(country="US")
    services.score_leads(lead_ids=[lead.pk])
    assert services.decay_engagement() == {"leads": 0, "changed": 0}


def test_seed_creates_one_rule_set_version_scores_demo_leads_and_is_idempotent(marketing):
    from crm.seed import DemoOrg
    from scoring import seed
    from scoring.models import RuleSetVersion

    LeadFactory.create_batch(6, country="US", industry="SaaS")
    org = DemoOrg(password="x", users={"marketing": marketing})
    first = seed.run(org)
    assert first["scoring rules"] == 14
    assert first["engagement events"] > 0
    assert RuleSetVersion.objects.count() == 1
    assert Lead.objects.filter(score__gt=0).count() == 6
    again = seed.run(DemoOrg(password="x", users={"marketing": marketing}))
    assert again == {"scoring rules": 0, "engagement events": 0}
    assert RuleSetVersion.objects.count() == 1
