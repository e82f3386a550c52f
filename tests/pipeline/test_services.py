"""pipeline.services: moves, history, categories, WIP limits and the pipeline shape rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from pipeline import services
from pipeline.models import Opportunity, Stage, StageChange
from tests.factories import AccountFactory, OpportunityFactory, PipelineFactory
from tests.pipeline.factories import LostReasonFactory

pytestmark = pytest.mark.django_db


def stage(deal, name):
    return deal.pipeline.stages.get(name=name)


def test_allowed_move_sets_stage_version_category_and_history(rep):
    deal = OpportunityFactory(owner=rep, amount=Decimal("5000"))
    negotiation = stage(deal, "Negotiation")
    result = services.move_opportunity(
        opportunity=deal, to_stage=negotiation, expected_version=1, by=rep
    )
    moved = result.opportunity
    assert (moved.stage, moved.version, moved.forecast_category) == (negotiation, 2, "commit")
    change = StageChange.objects.get(opportunity=deal)
    assert (change.from_stage.name, change.to_stage.name, change.changed_by, change.amount) == (
        "Qualification",
        "Negotiation",
        rep,
        Decimal("5000"),
    )
    assert result.warnings == ()


def test_time_in_stage_is_recorded_on_the_move(rep):
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=False):
        deal = OpportunityFactory(owner=rep, stage_entered_at=timezone.now())
    services.move_opportunity(
        opportunity=deal, to_stage=stage(deal, "Proposal"), expected_version=1, by=rep
    )
    change = StageChange.objects.get(opportunity=deal)
    assert 3 * 86400 - 5 <= change.seconds_in_from_stage <= 3 * 86400 + 5


def test_stale_version_raises_with_the_current_row_and_writes_nothing(rep):
    deal = OpportunityFactory(owner=rep)
    services.move_opportunity(
        opportunity=deal, to_stage=stage(deal, "Proposal"), expected_version=1, by=rep
    )
    with pytest.raises(services.StaleOpportunity) as error:
        services.move_opportunity(
            opportunity=Opportunity.objects.get(pk=deal.pk),
            to_stage=stage(deal, "Negotiation"),
            expected_version=1,
            by=rep,
        )
    assert (error.value.current.version, error.value.current.stage.name) == (2, "Proposal")
    assert StageChange.objects.filter(opportunity=deal).count() == 1


def test_lost_without_reason_is_refused_and_nothing_changes(rep):
    deal = OpportunityFactory(owner=rep)
    with pytest.raises(ValidationError) as error:
        services.move_opportunity(
            opportunity=deal, to_stage=stage(deal, "Closed Lost"), expected_version=1, by=rep
        )
    assert "lost_reason" in error.value.message_dict
    deal.refresh_from_db()
    assert (deal.stage.name, deal.version, deal.closed_at) == ("Qualification", 1, None)


def test_lost_with_reason_closes_and_omits(rep):
    deal = OpportunityFactory(owner=rep)
    reason = LostReasonFactory(label="Price")
    moved = services.move_opportunity(
        opportunity=deal,
        to_stage=stage(deal, "Closed Lost"),
        expected_version=1,
        by=rep,
        lost_reason=reason,
        lost_note="Too expensive",
    ).opportunity
    assert (moved.forecast_category, moved.lost_reason, moved.lost_note) == (
        "omitted",
        reason,
        "Too expensive",
    )
    assert moved.closed_at is not None
    assert moved.won_at is None


def test_won_stamps_won_and_closed_and_reopening_clears_them(rep):
    deal = OpportunityFactory(owner=rep)
    won = services.move_opportunity(
        opportunity=deal, to_stage=stage(deal, "Closed Won"), expected_version=1, by=rep
    ).opportunity
    assert won.forecast_category == "closed"
    assert won.won_at
    assert won.closed_at
    reopened = services.move_opportunity(
        opportunity=won, to_stage=stage(deal, "Proposal"), expected_version=2, by=rep
    ).opportunity
    assert (reopened.won_at, reopened.closed_at, reopened.forecast_category) == (
        None,
        None,
        "best_case",
    )


def test_move_outside_scope_is_refused(rep, other_rep):
    deal = OpportunityFactory(owner=other_rep)
    with pytest.raises(Opportunity.DoesNotExist):
        services.move_opportunity(
            opportunity=deal, to_stage=stage(deal, "Proposal"), expected_version=1, by=rep
        )
    assert Opportunity.objects.get(pk=deal.pk).version == 1


def test_manager_may_move_a_team_members_deal(rep, manager):
    deal = OpportunityFactory(owner=rep)
    moved = services.move_opportunity(
        opportunity=deal, to_stage=stage(deal, "Proposal"), expected_version=1, by=manager
    ).opportunity
    assert moved.stage.name == "Proposal"


def test_rep_override_of_category_survives_open_moves_but_not_closing(rep):
    deal = OpportunityFactory(owner=rep)
    deal = services.update_opportunity(opportunity=deal, by=rep, forecast_category="commit")
    assert (deal.forecast_category, deal.forecast_category_overridden) == ("commit", True)
    deal = services.move_opportunity(
        opportunity=deal, to_stage=stage(deal, "Proposal"), expected_version=2, by=rep
    ).opportunity
    assert deal.forecast_category == "commit"
    deal = services.move_opportunity(
        opportunity=deal, to_stage=stage(deal, "Closed Won"), expected_version=3, by=rep
    ).opportunity
    assert (deal.forecast_category, deal.forecast_category_overridden) == ("closed", False)


def test_wip_limit_warns_but_lets_the_move_through(rep):
    deal = OpportunityFactory(owner=rep)
    proposal = stage(deal, "Proposal")
    proposal.wip_limit = 1
    proposal.save()
    OpportunityFactory(owner=rep, pipeline=deal.pipeline, stage=proposal)
    result = services.move_opportunity(
        opportunity=deal, to_stage=proposal, expected_version=1, by=rep
    )
    assert result.opportunity.stage == proposal
    assert result.warnings == ("Proposal is over its WIP limit: 2 deals, limit 1.",)


def test_drop_between_two_cards_gets_a_position_between_them(rep):
    deal = OpportunityFactory(owner=rep)
    proposal = stage(deal, "Proposal")
    a = OpportunityFactory(owner=rep, pipeline=deal.pipeline, stage=proposal, position=100)
    b = OpportunityFactory(owner=rep, pipeline=deal.pipeline, stage=proposal, position=200)
    moved = services.move_opportunity(
        opportunity=deal,
        to_stage=proposal,
        expected_version=1,
        by=rep,
        after_id=a.pk,
        before_id=b.pk,
    ).opportunity
    assert moved.position == 150
    order = list(Opportunity.objects.filter(stage=proposal).values_list("pk", flat=True))
    assert order == [a.pk, deal.pk, b.pk]


def test_reorder_within_a_column_writes_no_history(rep):
    deal = OpportunityFactory(owner=rep, position=500)
    other = OpportunityFactory(owner=rep, pipeline=deal.pipeline, position=100)
    moved = services.move_opportunity(
        opportunity=deal, to_stage=deal.stage, expected_version=1, by=rep, before_id=other.pk
    ).opportunity
    assert moved.position < other.position
    assert StageChange.objects.exists() is False


def test_crowded_gap_renumbers_the_column(rep):
    deal = OpportunityFactory(owner=rep)
    proposal = stage(deal, "Proposal")
    a = OpportunityFactory(owner=rep, pipeline=deal.pipeline, stage=proposal, position=1.0)
    b = OpportunityFactory(owner=rep, pipeline=deal.pipeline, stage=proposal, position=1.0 + 1e-9)
    services.move_opportunity(
        opportunity=deal,
        to_stage=proposal,
        expected_version=1,
        by=rep,
        after_id=a.pk,
        before_id=b.pk,
    )
    order = list(Opportunity.objects.filter(stage=proposal).values_list("pk", flat=True))
    assert order == [a.pk, deal.pk, b.pk]


def test_new_deal_on_a_customer_defaults_to_expansion(rep):
    pipeline = PipelineFactory()
    customer, prospect = AccountFactory(is_customer=True), AccountFactory(is_customer=False)
    farm = services.create_opportunity(
        by=rep, name="More seats", pipeline=pipeline, account=customer
    )
    hunt = services.create_opportunity(
        by=rep, name="First deal", pipeline=pipeline, account=prospect
    )
    assert (farm.deal_type, hunt.deal_type) == ("expansion", "new_business")
    assert farm.stage.name == "Qualification"
    assert farm.forecast_category == "pipeline"
    assert StageChange.objects.filter(opportunity=farm, from_stage__isnull=True).count() == 1


def test_update_with_a_stale_version_writes_nothing(rep):
    deal = OpportunityFactory(owner=rep, name="Old")
    with pytest.raises(services.StaleOpportunity):
        services.update_opportunity(opportunity=deal, by=rep, expected_version=9, name="New")
    assert Opportunity.objects.get(pk=deal.pk).name == "Old"


def test_update_cannot_touch_the_stage(rep):
    deal = OpportunityFactory(owner=rep)
    with pytest.raises(ValidationError):
        services.update_opportunity(opportunity=deal, by=rep, stage=stage(deal, "Proposal"))


# --- pipeline configuration --------------------------------------------------------------


def test_create_pipeline_has_one_won_and_one_lost_stage():
    pipeline = services.create_pipeline(by=None, name="Partners")
    kinds = sorted(pipeline.stages.values_list("kind", flat=True))
    assert kinds == ["lost", "open", "won"]


def test_a_second_won_stage_is_refused():
    pipeline = PipelineFactory()
    with pytest.raises(ValidationError):
        services.add_stage(pipeline=pipeline, by=None, name="Won again", kind=Stage.Kind.WON)
    assert pipeline.stages.filter(kind="won").count() == 1


def test_the_last_lost_stage_cannot_be_archived_or_deleted():
    pipeline = PipelineFactory()
    lost = pipeline.stages.get(kind="lost")
    lost_pk = lost.pk
    with pytest.raises(ValidationError):
        services.archive_stage(stage=lost, by=None)
    with pytest.raises(ValidationError):
        services.delete_stage(stage=lost, by=None)
    assert Stage.objects.get(pk=lost_pk).is_archived is False


def test_a_stage_holding_deals_cannot_be_deleted_or_archived(rep):
    deal = OpportunityFactory(owner=rep)
    with pytest.raises(ValidationError, match="holds deals"):
        services.delete_stage(stage=deal.stage, by=None)
    with pytest.raises(ValidationError, match="holds deals"):
        services.archive_stage(stage=deal.stage, by=None)
    assert Stage.objects.filter(pk=deal.stage_id, is_archived=False).exists()


def test_an_emptied_stage_with_history_is_archived_not_deleted(rep):
    deal = OpportunityFactory(owner=rep)
    qualification = deal.stage
    services.move_opportunity(
        opportunity=deal, to_stage=stage(deal, "Proposal"), expected_version=1, by=rep
    )
    with pytest.raises(ValidationError, match="archive it instead"):
        services.delete_stage(stage=qualification, by=None)
    services.archive_stage(stage=qualification, by=None)
    assert Stage.objects.get(pk=qualification.pk).is_archived is True


def test_add_open_stage_goes_before_the_closed_ones():
    pipeline = PipelineFactory()
    services.add_stage(pipeline=pipeline, by=None, name="Legal", probability=90)
    names = list(pipeline.stages.order_by("order").values_list("name", flat=True))
    assert names[-3:] == ["Legal", "Closed Won", "Closed Lost"]


def test_reorder_needs_every_stage_once():
    pipeline = PipelineFactory()
    ids = list(pipeline.stages.order_by("order").values_list("pk", flat=True))
    services.reorder_stages(pipeline=pipeline, by=None, stage_ids=[ids[1], ids[0], *ids[2:]])
    assert list(pipeline.stages.order_by("order").values_list("pk", flat=True))[:2] == [
        ids[1],
        ids[0],
    ]
    with pytest.raises(ValidationError):
        services.reorder_stages(pipeline=pipeline, by=None, stage_ids=ids[:2])


def test_changing_the_kind_of_a_stage_with_deals_is_refused(rep):
    deal = OpportunityFactory(owner=rep)
    with pytest.raises(ValidationError):
        services.update_stage(stage=deal.stage, by=None, kind=Stage.Kind.LOST)
    assert Stage.objects.get(pk=deal.stage_id).kind == "open"


def test_making_a_pipeline_default_demotes_the_old_one():
    old = services.create_pipeline(by=None, name="Old", is_default=True)
    new = services.create_pipeline(by=None, name="New")
    services.update_pipeline(pipeline=new, by=None, is_default=True)
    old.refresh_from_db()
    assert (old.is_default, new.is_default) == (False, True)
    with pytest.raises(ValidationError):
        services.archive_pipeline(pipeline=new, by=None)


def test_lost_reason_labels_are_unique():
    services.save_lost_reason(by=None, label="Price")
    with pytest.raises(ValidationError):
        services.save_lost_reason(by=None, label="price")
