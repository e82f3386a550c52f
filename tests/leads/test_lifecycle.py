"""Every transition, allowed and refused, through the service and the API (409)."""

from __future__ import annotations

import pytest

from leads.models import Lead, LeadTransition
from leads.services import InvalidTransition, assign_leads, record_bant, transition_lead
from tests.factories import LeadFactory, PipelineFactory, make_token

pytestmark = pytest.mark.django_db

BANT = {f"{item}_confirmed": True for item in Lead.BANT}

ALLOWED = [
    ("new", "mql", {}),
    ("new", "disqualified", {"reason": "Spam"}),
    ("mql", "srl", {}),
    ("mql", "disqualified", {"reason": "Student"}),
    ("mql", "recycled", {"reason": "Not now"}),
    ("srl", "sql", {}),
    ("srl", "disqualified", {"reason": "No budget"}),
    ("srl", "recycled", {"reason": "Timing"}),
    ("sql", "disqualified", {"reason": "Lost to rival"}),
    ("disqualified", "recycled", {"reason": "Came back"}),
    ("recycled", "mql", {}),
    ("recycled", "disqualified", {"reason": "Gone"}),
]


@pytest.mark.parametrize(("start", "to", "extra"), ALLOWED)
def test_allowed_transition_stamps_and_records(rep, start, to, extra):
    lead = LeadFactory(owner=rep, stage=start, **BANT)
    lead = transition_lead(lead=lead, to=to, by=rep, **extra)
    assert lead.stage == to
    assert getattr(lead, f"{to}_at") is not None
    row = LeadTransition.objects.get(lead=lead)
    assert (row.from_stage, row.to_stage, row.by, row.reason) == (
        start,
        to,
        rep,
        extra.get("reason", ""),
    )


REFUSED = [
    ("new", "srl"),
    ("new", "sql"),
    ("new", "recycled"),
    ("mql", "sql"),
    ("mql", "new"),
    ("srl", "mql"),
    ("sql", "srl"),
    ("converted", "mql"),
    ("converted", "disqualified"),
    ("disqualified", "mql"),
    ("recycled", "srl"),
]


@pytest.mark.parametrize(("start", "to"), REFUSED)
def test_refused_transition_changes_nothing(rep, start, to):
    lead = LeadFactory(owner=rep, stage=start, **BANT)
    with pytest.raises(InvalidTransition) as error:
        transition_lead(lead=lead, to=to, by=rep, reason="x")
    assert error.value.allowed == sorted(Lead.NEXT[start])
    assert Lead.objects.get(pk=lead.pk).stage == start
    assert LeadTransition.objects.exists() is False


def test_srl_needs_an_owner(marketing):
    lead = LeadFactory(stage="mql")
    with pytest.raises(InvalidTransition, match="owner"):
        transition_lead(lead=lead, to="srl", by=marketing)
    assert Lead.objects.get(pk=lead.pk).stage == "mql"


def test_recycle_needs_a_reason(rep):
    lead = LeadFactory(owner=rep, stage="mql")
    with pytest.raises(InvalidTransition, match="reason"):
        transition_lead(lead=lead, to="recycled", by=rep, reason="  ")


def test_bant_answers_unlock_sql(rep):
    lead = LeadFactory(owner=rep, stage="srl")
    record_bant(
        lead=lead,
        by=rep,
        answers={**BANT, "budget_note": "50k approved", "timeline_note": "Q2"},
    )
    lead = transition_lead(lead=lead, to="sql", by=rep)
    assert (lead.stage, lead.budget_note) == ("sql", "50k approved")


def test_assigning_notifies_the_new_owner_once(manager, rep):
    leads = LeadFactory.create_batch(3, stage="mql")
    moved = assign_leads(lead_ids=[x.pk for x in leads], owner=rep, by=manager)
    assert len(moved) == 3
    assert Lead.objects.filter(owner=rep, assigned_at__isnull=False).count() == 3
    assert rep.notifications.get().message.endswith("assigned you 3 leads.")


def test_rep_cannot_assign_to_another_team(rep, other_rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(Exception, match="cannot assign"):
        assign_leads(lead_ids=[lead.pk], owner=other_rep, by=rep)
    assert Lead.objects.get(pk=lead.pk).owner == rep


# --- API ------------------------------------------------------------------------------


def post_transition(client, user, lead, body, scopes=("leads:write",)):
    token = make_token(user, list(scopes))
    return client.post(
        f"/api/v1/leads/{lead.pk}/transition/",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_api_invalid_transition_is_409_with_allowed(client, rep):
    lead = LeadFactory(owner=rep)
    response = post_transition(client, rep, lead, {"to": "sql"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A New lead cannot move to SQL.",
        "allowed": ["disqualified", "mql"],
    }


def test_api_transition_moves_the_lead(client, rep):
    lead = LeadFactory(owner=rep, stage="mql")
    response = post_transition(client, rep, lead, {"to": "srl"})
    assert response.status_code == 200
    assert response.json()["stage"] == "srl"


def test_api_convert_through_transition(client, rep):
    PipelineFactory(is_default=True)
    lead = LeadFactory(owner=rep, stage="sql", **BANT)
    response = post_transition(client, rep, lead, {"to": "converted", "amount": "500.00"})
    assert response.status_code == 200
    assert response.json()["stage"] == "converted"
    again = post_transition(client, rep, lead, {"to": "converted"})
    assert again.status_code == 409
    assert "already converted" in again.json()["detail"]


def test_api_transition_of_an_invisible_lead_is_404(client, rep, other_rep):
    lead = LeadFactory(owner=other_rep, stage="mql")
    assert (
        post_transition(client, rep, lead, {"to": "disqualified", "reason": "x"}).status_code == 404
    )
    assert Lead.objects.get(pk=lead.pk).stage == "mql"


def test_api_transition_needs_write_scope(client, rep):
    lead = LeadFactory(owner=rep, stage="mql")
    response = post_transition(client, rep, lead, {"to": "srl"}, scopes=("leads:read",))
    assert response.status_code == 403
    assert "leads:write" in response.json()["detail"]
