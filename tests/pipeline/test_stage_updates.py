"""One `stage_updates`: what a stage move sets, shared by a move by hand and the stale sweep's
auto-close, so both leave a deal (and its history) in the same state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import F
from django.utils import timezone

from crm.models import OrgSettings
from pipeline import services
from pipeline.models import LostReason, Opportunity, Stage, StageChange
from pipeline.stale import AUTO_CLOSE_NOTE, STALE_REASON, auto_close_stale_opportunities
from tests.factories import OpportunityFactory, PipelineFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
NOT_COMPARED = {"id", "position"}  # each card goes to the end of the lost column


def twin(pipeline, rep):
    long_ago = T0 - timedelta(days=15)
    with time_machine.travel(T0 - timedelta(days=20), tick=False):
        return OpportunityFactory(
            name="Twin",
            pipeline=pipeline,
            stage=pipeline.stages.get(name="Proposal"),
            owner=rep,
            amount=Decimal("4200"),
            forecast_category="commit",
            forecast_category_overridden=True,
            stage_entered_at=long_ago,
            last_activity_at=long_ago,
            is_stale=True,
            stale_since=long_ago,
            stale_escalated_at=long_ago,
        )


def state(deal):
    row = Opportunity.objects.get(pk=deal.pk)
    fields = {
        f.attname: getattr(row, f.attname)
        for f in Opportunity._meta.concrete_fields
        if f.attname not in NOT_COMPARED
    }
    history = list(
        StageChange.objects.filter(opportunity=deal).values(
            "from_stage_id",
            "to_stage_id",
            "changed_by_id",
            "changed_at",
            "amount",
            "seconds_in_from_stage",
            "reason",
        )
    )
    return fields, history


def test_auto_close_and_a_move_to_lost_leave_twin_deals_in_the_same_state(rep):
    # given: auto-close after a day; two deals alike in every field, stale for 15 days
    OrgSettings.objects.update_or_create(pk=1, defaults={"stale_auto_close_after_days": 1})
    pipeline = PipelineFactory()
    lost = pipeline.stages.get(kind=Stage.Kind.LOST)
    swept = twin(pipeline, rep)
    # when: the sweep closes one (the other does not exist yet) …
    with time_machine.travel(T0, tick=False):
        assert auto_close_stale_opportunities(now=timezone.now())["closed"] == 1
    moved = twin(pipeline, rep)
    # … and the other is moved to lost by hand with the same reason, note and actor
    with time_machine.travel(T0, tick=False):
        services.move_opportunity(
            opportunity=moved,
            to_stage=lost,
            expected_version=moved.version,
            by=None,
            lost_reason=LostReason.objects.get(label=STALE_REASON),
            lost_note=AUTO_CLOSE_NOTE,
            reason=STALE_REASON,
        )
    # then: same row and same history, field for field
    assert state(swept) == state(moved)
    fields, history = state(swept)
    assert (fields["stage_id"], fields["version"], fields["forecast_category"]) == (
        lost.pk,
        2,
        "omitted",
    )
    assert (fields["closed_at"], fields["stage_entered_at"], fields["is_stale"]) == (T0, T0, False)
    assert history[0]["seconds_in_from_stage"] == 15 * 86400


def test_an_overridden_category_survives_open_moves_but_not_closing(rep):
    deal = OpportunityFactory(owner=rep)
    stages = {s.name: s for s in deal.pipeline.stages.all()}
    between_open = services.stage_updates(
        to_stage=stages["Negotiation"], now=T0, category_overridden=True
    )
    assert "forecast_category" not in between_open
    to_won = services.stage_updates(to_stage=stages["Closed Won"], now=T0, category_overridden=True)
    assert (to_won["forecast_category"], to_won["forecast_category_overridden"]) == (
        "closed",
        False,
    )
    assert (to_won["closed_at"], to_won["won_at"], to_won["lost_reason"]) == (T0, T0, None)


def test_the_updates_set_every_stage_field_and_bump_the_version(rep):
    deal = OpportunityFactory(owner=rep)
    lost = deal.pipeline.stages.get(kind=Stage.Kind.LOST)
    reason = LostReason.objects.create(label="Price")
    updates = services.stage_updates(
        to_stage=lost, now=T0, lost_reason=reason, lost_note="Too dear"
    )
    assert updates["version"] == F("version") + 1
    assert {k: v for k, v in updates.items() if k != "version"} == {
        "updated_at": T0,
        "stage": lost,
        "stage_entered_at": T0,
        "is_stale": False,
        "stale_since": None,
        "stale_escalated_at": None,
        "closed_at": T0,
        "won_at": None,
        "lost_reason": reason,
        "lost_note": "Too dear",
        "forecast_category": "omitted",
        "forecast_category_overridden": False,
    }
