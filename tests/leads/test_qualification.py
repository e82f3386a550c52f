"""One rule turns a score into MQL (leads.services.qualify_crossers), whichever path scored the
lead — engagement events, the import, an edit — and only leads creates leads: the unknown
leads events ask for go through the import's creation service (owner rule, audit entry)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import AuditLog, Notification
from leads.importing.service import import_leads
from leads.models import Lead, LeadTransition
from leads.services import qualifies_for_mql, rescore_leads
from scoring import handoff, services
from scoring.events import ingest_events
from tests.factories import LeadFactory, make_token
from tests.scoring.factories import worked_example_rules

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"
IMPORT = "/api/v1/leads/import/"


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def event(n, email, type_="trial_started", **extra):
    return {
        "id": f"e-{n}",
        "lead": {"email": email},
        "type": type_,
        "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        **extra,
    }


def fit_rule(by, **rule):
    """A fit rule worth 60 points (the default MQL threshold is 50)."""
    defaults = {"name": "US", "field": "country", "operator": "equals", "value": "US"}
    return services.create_rule(by=by, category="fit", points=60, **(defaults | rule))


def mql_record(lead):
    """What a user notices of a qualification: the transition and the owner's notification."""
    transitions = list(
        LeadTransition.objects.filter(lead=lead).values_list("from_stage", "to_stage", "by")
    )
    notified = list(Notification.objects.filter(verb="lead_mql").values_list("recipient", "url"))
    return transitions, notified


@pytest.mark.parametrize(
    ("stage", "was_mql", "qualifies"),
    [
        ("new", False, True),
        ("new", True, False),  # MQL once: a lead put back to new keeps its mql_at
        ("recycled", False, False),  # nurture re-qualifies by hand, not by its score
        ("mql", False, False),
        ("srl", False, False),
        ("sql", False, False),
        ("disqualified", False, False),
    ],
)
def test_only_a_new_lead_that_was_never_mql_qualifies(stage, was_mql, qualifies):
    mql_at = timezone.now() if was_mql else None
    assert qualifies_for_mql(stage=stage, mql_at=mql_at) is qualifies


def test_rescoring_moves_only_new_leads_that_were_never_mql(marketing):
    fit_rule(marketing)
    fresh = LeadFactory(country="US")
    sql = LeadFactory(country="US", stage="sql")
    was_mql = LeadFactory(country="US", mql_at=timezone.now())
    rescore_leads(lead_ids=[fresh.pk, sql.pk, was_mql.pk])
    assert dict(Lead.objects.values_list("pk", "stage")) == {
        fresh.pk: "mql",
        sql.pk: "sql",
        was_mql.pk: "new",
    }
    assert Lead.objects.get(pk=sql.pk).score == 60


def test_scoring_alone_reports_the_crossing_and_moves_no_stage(marketing):
    fit_rule(marketing)
    lead = LeadFactory(country="US")
    result = services.score_leads(lead_ids=[lead.pk])
    assert [(c.lead_id, c.score, c.stage) for c in result.crossed] == [(lead.pk, 60, "new")]
    assert Lead.objects.get(pk=lead.pk).stage == "new"
    assert LeadTransition.objects.exists() is False


def test_events_that_score_a_lead_over_the_threshold_make_it_mql_once(client, marketing, rep):
    worked_example_rules(by=marketing)
    lead = LeadFactory(owner=rep)
    token = make_token(marketing, ["events:write"])
    # when two batches push it over the threshold (75), then further over it (150)
    for batch in range(2):
        events = [event(f"{batch}-{i}", lead.email) for i in range(3)]
        client.post(EVENTS, events, content_type="application/json", headers=auth(token))
    # then it went MQL once, by the system, and its owner heard of it once
    lead.refresh_from_db()
    assert (lead.stage, lead.score) == ("mql", 150)
    assert mql_record(lead) == ([("new", "mql", None)], [(rep.pk, f"/leads/{lead.pk}/")])


def test_an_import_that_scores_leads_over_the_threshold_makes_them_mql_once(
    client, marketing, rep, other_rep
):
    fit_rule(marketing)
    existing = LeadFactory(owner=other_rep, email="known@firm.example")
    token = make_token(marketing, ["leads:write"])
    batch = {
        "match_on": "email",
        "leads": [
            {"email": "new@firm.example", "country": "US", "owner": rep.pk},  # created over it
            {"email": existing.email, "country": "US"},  # updated over it
        ],
    }
    # when the batch is imported, and then again with another change
    first = client.post(IMPORT, batch, content_type="application/json", headers=auth(token))
    for record in batch["leads"]:
        record["title"] = "CTO"
    client.post(IMPORT, batch, content_type="application/json", headers=auth(token))
    # then both went MQL once, each owner notified once
    assert (first.json()["created"], first.json()["updated"]) == (1, 1)
    created = Lead.objects.get(email="new@firm.example")
    for lead in (created, existing):
        lead.refresh_from_db()
        assert (lead.stage, lead.score, lead.title) == ("mql", 60, "CTO")
        assert list(LeadTransition.objects.filter(lead=lead).values_list("to_stage", "by")) == [
            ("mql", None)
        ]
    assert sorted(Notification.objects.filter(verb="lead_mql").values_list("recipient", "url")) == [
        (rep.pk, f"/leads/{created.pk}/"),
        (other_rep.pk, f"/leads/{existing.pk}/"),
    ]


def test_a_lead_created_by_an_event_is_audited_and_owned_like_an_imported_one(client, marketing):
    worked_example_rules(by=marketing)
    token = make_token(marketing, ["events:write"])
    body = [event(1, "Fresh@Prospect.example", create_lead=True)]
    response = client.post(EVENTS, body, content_type="application/json", headers=auth(token))
    assert response.json()["created"] == 1
    lead = Lead.objects.get(email="fresh@prospect.example")
    entry = AuditLog.objects.get(action="lead.event.created")
    assert (entry.target_id, entry.actor_id) == (str(lead.pk), marketing.pk)
    # marketing's new leads wait unassigned for routing, as imported ones do
    assert (lead.owner_id, lead.source, lead.stage, lead.score) == (None, "event", "new", 25)


def test_events_and_the_import_give_a_new_lead_the_same_owner(manager):
    """The owner rule is the import's: outside marketing and admins, the creator owns it."""
    ingest_events(events=[event(1, "by-event@firm.example", create_lead=True)], user=manager)
    import_leads(records=[{"email": "by-import@firm.example"}], match_on="email", by=manager)
    owners = dict(Lead.objects.values_list("email", "owner"))
    assert owners == {"by-event@firm.example": manager.pk, "by-import@firm.example": manager.pk}
    assert sorted(AuditLog.objects.values_list("action", "actor")) == [
        ("lead.event.created", manager.pk),
        ("lead.import.created", manager.pk),
    ]


def test_a_lead_an_event_creates_over_the_threshold_by_fit_goes_mql_once(client, marketing):
    fit_rule(marketing, name="Big firm", field="email_domain", value="big.example")
    token = make_token(marketing, ["events:write"])
    body = [event(1, "ceo@big.example", "email_opened", create_lead=True)]
    client.post(EVENTS, body, content_type="application/json", headers=auth(token))
    lead = Lead.objects.get(email="ceo@big.example")
    assert (lead.stage, lead.score) == ("mql", 60)
    assert mql_record(lead) == ([("new", "mql", None)], [])  # unassigned: nobody to notify


def test_scoring_refuses_to_run_its_own_passes_without_a_lead_lifecycle(monkeypatch):
    monkeypatch.setattr(handoff, "_registered", [])
    with pytest.raises(handoff.ImproperlyConfigured):
        handoff.lifecycle()
