"""move_opportunity: the one way a deal changes stage (the pipeline issue extends these)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from pipeline.models import LostReason, Opportunity, StageChange
from pipeline.services import StaleOpportunity, move_opportunity
from tests.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def test_move_records_history_bumps_version_and_derives_category(rep):
    deal = OpportunityFactory(owner=rep)
    proposal = deal.pipeline.stages.get(name="Proposal")
    moved = move_opportunity(
        opportunity=deal, to_stage=proposal, expected_version=1, by=rep
    ).opportunity
    assert (moved.stage, moved.version, moved.forecast_category) == (proposal, 2, "best_case")
    change = StageChange.objects.get(opportunity=deal, from_stage__isnull=False)
    assert (change.from_stage.name, change.to_stage, change.changed_by) == (
        "Qualification",
        proposal,
        rep,
    )


def test_stale_version_is_refused_and_nothing_changes(rep):
    deal = OpportunityFactory(owner=rep)
    proposal = deal.pipeline.stages.get(name="Proposal")
    with pytest.raises(StaleOpportunity) as error:
        move_opportunity(opportunity=deal, to_stage=proposal, expected_version=7, by=rep)
    assert error.value.current.version == 1
    assert Opportunity.objects.get(pk=deal.pk).stage.name == "Qualification"
    assert StageChange.objects.filter(opportunity=deal).exists() is False


def test_lost_needs_a_reason(rep):
    deal = OpportunityFactory(owner=rep)
    lost = deal.pipeline.stages.get(kind="lost")
    with pytest.raises(ValidationError):
        move_opportunity(opportunity=deal, to_stage=lost, expected_version=1, by=rep)
    reason = LostReason.objects.create(label="Price")
    moved = move_opportunity(
        opportunity=deal, to_stage=lost, expected_version=1, by=rep, lost_reason=reason
    ).opportunity
    assert (moved.forecast_category, moved.lost_reason, moved.closed_at is not None) == (
        "omitted",
        reason,
        True,
    )


def test_a_stage_of_another_pipeline_is_refused(rep):
    deal = OpportunityFactory(owner=rep)
    other = OpportunityFactory(owner=rep).stage
    with pytest.raises(ValidationError, match="another pipeline"):
        move_opportunity(opportunity=deal, to_stage=other, expected_version=1, by=rep)
