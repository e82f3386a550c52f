"""Stale deals: flag → owner, escalate → manager, auto-close (off by default) and reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from activities.services import create_activity
from config.celery import app
from crm.models import JobRun, Notification, OrgSettings
from pipeline.models import Opportunity, Stage, StageChange
from pipeline.services import create_opportunity
from pipeline.stale import STALE_REASON, reopen_opportunity, sweep_stale_opportunities
from pipeline.tasks import sweep_stale_opportunities_task
from tests.factories import PipelineFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture
def deal(rep, manager):
    pipeline = PipelineFactory()
    Stage.objects.filter(pipeline=pipeline, name="Proposal").update(rot_after_days=10)
    proposal = Stage.objects.get(pipeline=pipeline, name="Proposal")
    with time_machine.travel(T0, tick=False):
        return create_opportunity(by=rep, name="Big deal", pipeline=pipeline, stage=proposal)


def sweep(at: datetime) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return sweep_stale_opportunities(now=timezone.now())


def test_deal_goes_stale_after_rot_days_and_the_owner_hears_once(deal, rep, manager):
    assert sweep(day(9.9))["flagged"] == 0
    assert sweep(day(10))["flagged"] == 1
    assert sweep(day(11))["flagged"] == 0
    deal.refresh_from_db()
    assert (deal.is_stale, deal.stale_since) == (True, day(10))
    assert list(Notification.objects.filter(recipient=rep).values_list("verb", flat=True)) == [
        "deal_stale"
    ]


def test_activity_resets_the_clock_and_revives_a_stale_deal(deal, rep):
    with time_machine.travel(day(6), tick=False):
        create_activity(by=rep, kind="call", subject="Chat", opportunity=deal)
    assert sweep(day(10))["flagged"] == 0
    assert sweep(day(16))["flagged"] == 1
    with time_machine.travel(day(17), tick=False):
        create_activity(by=rep, kind="note", subject="Update", opportunity=deal)
    assert sweep(day(17))["revived"] == 1
    deal.refresh_from_db()
    assert (deal.is_stale, deal.stale_since) == (False, None)


def test_a_scheduled_future_task_keeps_the_deal_fresh(deal, rep):
    Opportunity.objects.filter(pk=deal.pk).update(last_activity_at=T0)
    create_kwargs = {"by": rep, "kind": "task", "subject": "Demo", "opportunity": deal}
    with time_machine.travel(T0, tick=False):
        create_activity(**create_kwargs, due_at=day(20))
    assert sweep(day(15))["flagged"] == 0
    assert sweep(day(21))["flagged"] == 1  # the task's date passed undone


def test_stage_that_never_rots_is_ignored(deal):
    Stage.objects.filter(pk=deal.stage_id).update(rot_after_days=0)
    assert sweep(day(400))["flagged"] == 0


def test_escalation_reaches_the_manager_once_after_the_delay(deal, rep, manager):
    OrgSettings.objects.update_or_create(pk=1, defaults={"stale_escalate_after_days": 7})
    sweep(day(10))
    assert sweep(day(16.9))["escalated"] == 0
    assert sweep(day(17))["escalated"] == 1
    assert sweep(day(30))["escalated"] == 0
    assert list(Notification.objects.filter(recipient=manager).values_list("verb", flat=True)) == [
        "deal_stale_escalated"
    ]


def test_escalation_skips_a_team_manager_who_cannot_see_the_deal(deal, org, manager):
    # given team A's manager demoted to rep (no team scope), and a manager over the region
    from tests.factories import UserFactory

    manager.role = "rep"
    manager.save()
    regional = UserFactory(username="regional", role="manager", team=org["region"])
    org["region"].manager = regional
    org["region"].save()
    OrgSettings.objects.update_or_create(pk=1, defaults={"stale_escalate_after_days": 7})
    sweep(day(10))
    assert sweep(day(17))["escalated"] == 1
    verbs = dict(Notification.objects.values_list("recipient", "verb"))
    assert verbs.get(regional.pk) == "deal_stale_escalated"
    assert manager.pk not in verbs


def test_auto_close_is_off_by_default(deal):
    sweep(day(10))
    assert sweep(day(400))["closed"] == 0
    deal.refresh_from_db()
    assert deal.stage.kind == "open"


def test_auto_close_moves_to_lost_with_the_reason_and_reopen_restores_the_stage(deal, rep):
    OrgSettings.objects.update_or_create(pk=1, defaults={"stale_auto_close_after_days": 30})
    proposal = deal.stage
    sweep(day(10))
    assert sweep(day(39))["closed"] == 0
    assert sweep(day(40))["closed"] == 1
    deal.refresh_from_db()
    assert (deal.stage.kind, deal.lost_reason.label, deal.is_stale) == ("lost", STALE_REASON, False)
    change = StageChange.objects.filter(opportunity=deal).order_by("-pk").first()
    assert (change.from_stage, change.reason, change.changed_by) == (proposal, STALE_REASON, None)
    # reopen
    with time_machine.travel(day(41), tick=False):
        deal = reopen_opportunity(opportunity=deal, by=rep)
    assert (deal.stage, deal.lost_reason, deal.closed_at) == (proposal, None, None)
    assert StageChange.objects.filter(opportunity=deal).count() == 3
    assert sweep(day(45)) == {"flagged": 0, "revived": 0, "escalated": 0, "closed": 0, "skipped": 0}
    with pytest.raises(ValidationError):
        reopen_opportunity(opportunity=deal, by=rep)


def test_sweep_task_writes_a_job_run(deal):
    with time_machine.travel(day(10), tick=False):
        sweep_stale_opportunities_task()
    run = JobRun.objects.get(job="sweep_stale_opportunities")
    assert (run.status, run.counts["flagged"]) == ("ok", 1)


def test_a_message_queued_under_the_old_task_name_still_runs_the_sweep(deal):
    # given: beat queued the sweep as "pipeline.stale_tasks…" before the task moved
    app.loader.import_default_modules()
    old_name = "pipeline.stale_tasks.sweep_stale_opportunities_task"
    assert settings.CELERY_BEAT_SCHEDULE["sweep-stale-opportunities"]["task"] == (
        "pipeline.tasks.sweep_stale_opportunities_task"
    )
    # when a worker receives it
    with time_machine.travel(day(10), tick=False):
        app.tasks[old_name].apply()
    # then
    run = JobRun.objects.get(job="sweep_stale_opportunities")
    assert (run.status, run.counts["flagged"]) == ("ok", 1)


def test_flagging_runs_in_constant_queries(rep, django_assert_max_num_queries):
    pipeline = PipelineFactory()
    Stage.objects.filter(pipeline=pipeline, kind="open").update(rot_after_days=3)
    stage = Stage.objects.filter(pipeline=pipeline, kind="open").first()
    for size in (2, 30):
        with time_machine.travel(T0, tick=False):
            for i in range(size):
                create_opportunity(by=rep, name=f"D{size}-{i}", pipeline=pipeline, stage=stage)
        # 32: + the notifications' scope check (users, UNION);
        # 35: + their e-mails (outbox INSERT, the install id, the Message-IDs' UPDATE)
        with django_assert_max_num_queries(35):
            sweep(day(5 + size))
    assert Opportunity.objects.filter(is_stale=True).count() == 32
