"""The transition table and its guards (the leads issue extends these)."""

from __future__ import annotations

import pytest

from leads.models import Lead, LeadTransition
from leads.services import InvalidTransition, transition_lead, transition_leads
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_new_lead_becomes_mql_with_a_stamp_and_a_transition_row(marketing):
    lead = LeadFactory()
    lead = transition_lead(lead=lead, to="mql", by=marketing)
    assert lead.stage == "mql"
    assert lead.mql_at is not None
    row = LeadTransition.objects.get(lead=lead)
    assert (row.from_stage, row.to_stage, row.by) == ("new", "mql", marketing)


def test_invalid_transition_says_why_and_what_is_allowed(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(InvalidTransition) as error:
        transition_lead(lead=lead, to="sql", by=rep)
    assert error.value.allowed == ["disqualified", "mql"]
    assert "cannot move to SQL" in error.value.detail
    assert LeadTransition.objects.exists() is False


def test_sql_needs_every_bant_answer_and_names_the_missing(rep):
    lead = LeadFactory(owner=rep, stage="srl", budget_confirmed=True, need_confirmed=True)
    with pytest.raises(InvalidTransition, match="authority, timeline"):
        transition_lead(lead=lead, to="sql", by=rep)
    assert Lead.objects.get(pk=lead.pk).stage == "srl"


def test_disqualify_needs_a_reason(rep):
    lead = LeadFactory(owner=rep, stage="mql")
    with pytest.raises(InvalidTransition, match="reason"):
        transition_lead(lead=lead, to="disqualified", by=rep)
    lead = transition_lead(lead=lead, to="disqualified", by=rep, reason="No budget")
    assert lead.stage_reason == "No budget"


def test_bulk_transition_moves_only_leads_the_table_allows(marketing):
    movable = LeadFactory.create_batch(3)
    stuck = LeadFactory(stage="converted")
    moved = transition_leads(lead_ids=[*(x.pk for x in movable), stuck.pk], to="mql", by=marketing)
    assert sorted(moved) == sorted(x.pk for x in movable)
    assert Lead.objects.get(pk=stuck.pk).stage == "converted"
    assert LeadTransition.objects.count() == 3


def test_owner_is_notified_when_someone_else_moves_their_lead(rep, manager):
    lead = LeadFactory(owner=rep, stage="mql")
    transition_lead(lead=lead, to="recycled", by=manager, reason="Not now")
    assert rep.notifications.get().verb == "lead_recycled"
