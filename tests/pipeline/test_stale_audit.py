"""The stale-deal sweep audits what it does to each deal, as the system: flag, unflag,
escalate, auto-close; a person's reopen is audited under their name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from activities.services import create_activity
from crm import audit
from crm.models import AuditLog, OrgSettings
from pipeline.models import Opportunity, Stage, StageChange
from pipeline.services import create_opportunity
from pipeline.stale import STALE_REASON, reopen_opportunity, sweep_stale_opportunities
from tests.factories import OpportunityFactory, PipelineFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def sweep(at: datetime) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return sweep_stale_opportunities(now=timezone.now())


def rotting_pipeline(days: int = 10):
    pipeline = PipelineFactory()
    Stage.objects.filter(pipeline=pipeline, kind="open").update(rot_after_days=days)
    return pipeline


@pytest.fixture
def deal(rep, manager):
    pipeline = rotting_pipeline()
    proposal = Stage.objects.get(pipeline=pipeline, name="Proposal")
    with time_machine.travel(T0, tick=False):
        return create_opportunity(by=rep, name="Big deal", pipeline=pipeline, stage=proposal)


def entries(action: str) -> list[tuple]:
    return [
        (e.actor_id, e.target_type, e.target_id, e.target_label, e.changes)
        for e in AuditLog.objects.filter(action=action).order_by("pk")
    ]


def test_flagging_and_unflagging_are_audited_as_the_system(deal, rep):
    # when: the deal rots, then a call brings it back to life
    sweep(day(10))
    with time_machine.travel(day(12), tick=False):
        create_activity(by=rep, kind="call", subject="Chat", opportunity=deal)
    sweep(day(12))
    # then
    target = ("pipeline.opportunity", str(deal.pk), "Big deal")
    assert entries("opportunity.stale_flag") == [
        (None, *target, {"is_stale": [False, True], "stale_since": [None, day(10).isoformat()]})
    ]
    assert entries("opportunity.stale_clear") == [
        (None, *target, {"is_stale": [True, False], "stale_since": [day(10).isoformat(), None]})
    ]


def test_escalation_is_audited_with_the_manager_told(deal, manager):
    OrgSettings.objects.update_or_create(pk=1, defaults={"stale_escalate_after_days": 7})
    sweep(day(10))
    sweep(day(17))
    sweep(day(30))  # already escalated: nothing new
    assert entries("opportunity.stale_escalate") == [
        (
            None,
            "pipeline.opportunity",
            str(deal.pk),
            "Big deal",
            {"stale_escalated_at": [None, day(17).isoformat()], "notified_manager": manager.pk},
        )
    ]


def test_auto_close_and_reopen_are_audited_and_show_in_the_deals_history(client, deal, rep):
    OrgSettings.objects.update_or_create(pk=1, defaults={"stale_auto_close_after_days": 30})
    sweep(day(10))
    # when
    assert sweep(day(40))["closed"] == 1
    with time_machine.travel(day(41), tick=False):
        reopen_opportunity(opportunity=deal, by=rep)
    # then
    assert entries("opportunity.auto_close") == [
        (
            None,
            "pipeline.opportunity",
            str(deal.pk),
            "Big deal",
            {
                "stage": ["Proposal", "Closed Lost"],
                "lost_reason": [None, STALE_REASON],
                "is_stale": [True, False],
                "forecast_category": ["best_case", "omitted"],
            },
        )
    ]
    reopened = AuditLog.objects.get(action="opportunity.reopen")
    lost = Stage.objects.get(pipeline=deal.pipeline, kind="lost")
    assert (reopened.actor, reopened.target_id) == (rep, str(deal.pk))
    assert reopened.changes == {
        "stage_id": [lost.pk, deal.stage_id],
        "stage": ["Closed Lost", "Proposal"],
        "lost_reason": [STALE_REASON, None],
    }
    assert list(audit.history_for(deal).values_list("action", flat=True)) == [
        "opportunity.reopen",
        "opportunity.auto_close",
        "opportunity.stale_escalate",
        "opportunity.stale_flag",
        "opportunity.create",
    ]
    client.force_login(rep)
    tab = client.get(reverse("settings:history_opportunities", args=[deal.pk])).content.decode()
    assert "<code>opportunity.auto_close</code>" in tab
    assert "Proposal → Closed Lost" in tab


def test_auto_close_leaves_each_deal_as_a_move_to_lost_would(rep):
    # given: two pipelines; one lost column already holds a card at position 5000
    OrgSettings.objects.update_or_create(pk=1, defaults={"stale_auto_close_after_days": 1})
    long_ago = timezone.now() - timedelta(days=15)
    first, second = rotting_pipeline(), rotting_pipeline()
    lost = Stage.objects.get(pipeline=first, kind="lost")
    OpportunityFactory(pipeline=first, stage=lost, position=5000.0)
    deals = [
        OpportunityFactory(
            pipeline=pipeline,
            owner=rep,
            stage_entered_at=long_ago,
            is_stale=True,
            stale_since=long_ago,
        )
        for pipeline in (first, first, second)
    ]
    # when
    assert sweep(timezone.now())["closed"] == 3
    # then
    closed = list(Opportunity.objects.filter(pk__in=[d.pk for d in deals]).order_by("pk"))
    assert [d.stage.kind for d in closed] == ["lost", "lost", "lost"]
    assert [d.stage.pipeline_id for d in closed] == [first.pk, first.pk, second.pk]
    assert [d.position for d in closed] == [6024.0, 7048.0, 1024.0]
    assert {(d.version, d.forecast_category, d.is_stale) for d in closed} == {(2, "omitted", False)}
    assert all(d.closed_at and d.lost_reason.label == STALE_REASON for d in closed)
    changes = StageChange.objects.filter(reason=STALE_REASON).order_by("opportunity_id")
    assert [(c.opportunity_id, c.from_stage_id, c.changed_by) for c in changes] == [
        (d.pk, d.stage_id, None) for d in deals
    ]
    assert AuditLog.objects.filter(action="opportunity.auto_close").count() == 3
    assert AuditLog.objects.filter(action="opportunity.move").exists() is False


def test_the_sweep_with_auto_close_runs_in_constant_queries(rep, django_assert_max_num_queries):
    OrgSettings.objects.update_or_create(
        pk=1, defaults={"stale_escalate_after_days": 1, "stale_auto_close_after_days": 2}
    )
    pipeline = rotting_pipeline(days=3)
    stage = Stage.objects.get(pipeline=pipeline, name="Proposal")
    for size in (2, 30):
        with time_machine.travel(T0, tick=False):
            for i in range(size):
                create_opportunity(by=rep, name=f"D{size}-{i}", pipeline=pipeline, stage=stage)
        # when: flag, then escalate, then auto-close, a day apart
        for offset in (3, 4, 5):
            # 34: + the notifications' scope check (users, UNION), + the escalation managers;
            # 37: + the e-mails (outbox INSERT, the install id, the Message-IDs' UPDATE)
            with django_assert_max_num_queries(37):
                sweep(day(offset + 10 * size))
    # then
    for action in ("stale_flag", "stale_escalate", "auto_close"):
        assert AuditLog.objects.filter(action=f"opportunity.{action}").count() == 32
    assert Opportunity.objects.filter(stage__kind="lost").count() == 32


def test_admins_find_and_export_the_sweeps_entries_on_the_audit_page(client, deal, admin_user):
    sweep(day(10))
    client.force_login(admin_user)
    page = client.get(reverse("settings:audit")).content.decode()
    assert '<option value="opportunity.stale_flag">' in page  # the action filter offers it
    rows = client.get(
        reverse("settings:audit"),
        {"action": "opportunity.stale_flag"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert rows.count("<code>opportunity.stale_flag</code>") == 1
    export = client.get(
        reverse("settings:audit_export"),
        {"action": "opportunity.stale_flag", "target_id": deal.pk},
    )
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert len(lines) == 2  # header + the one entry
    assert ",opportunity.stale_flag,pipeline.opportunity," in lines[1]
