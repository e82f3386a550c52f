"""Rules API, lead score API, rescore progress API: per role and per token scope."""

from __future__ import annotations

import pytest

from scoring import services
from scoring.models import EngagementEvent, RescoreJob, RuleSetVersion, ScoringRule
from tests.factories import LeadFactory, make_token

pytestmark = pytest.mark.django_db

RULES = "/api/v1/scoring/rules/"
FIT = {
    "name": "SaaS",
    "category": "fit",
    "field": "industry",
    "operator": "in",
    "value": ["SaaS", "Fintech"],
    "points": 10,
}


def auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("role", ["marketing", "admin_user"])
def test_editors_create_patch_and_delete_rules_over_the_api(client, role, request):
    user = request.getfixturevalue(role)
    token = make_token(user, ["scoring:write", "leads:read"])
    created = client.post(RULES, FIT, content_type="application/json", headers=auth(token))
    assert created.status_code == 201, created.json()
    body = created.json()
    assert {k: body[k] for k in FIT} == FIT
    rule_id = body["id"]
    patched = client.patch(
        f"{RULES}{rule_id}/",
        {"points": 12, "active": False},
        content_type="application/json",
        headers=auth(token),
    )
    assert patched.status_code == 200
    assert (patched.json()["points"], patched.json()["active"]) == (12, False)
    assert client.get(f"{RULES}{rule_id}/", headers=auth(token)).json()["points"] == 12
    assert client.delete(f"{RULES}{rule_id}/", headers=auth(token)).status_code == 204
    assert ScoringRule.objects.exists() is False
    assert RuleSetVersion.objects.count() == 3


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_read_rules_but_cannot_write(client, role, request, marketing):
    rule = services.create_rule(by=marketing, **FIT)
    user = request.getfixturevalue(role)
    client.force_login(user)
    assert client.get(RULES).json()[0]["name"] == "SaaS"
    assert client.post(RULES, FIT, content_type="application/json").status_code == 403
    assert (
        client.patch(
            f"{RULES}{rule.pk}/", {"points": 1}, content_type="application/json"
        ).status_code
        == 403
    )
    assert client.delete(f"{RULES}{rule.pk}/").status_code == 403
    assert ScoringRule.objects.get().points == 10


def test_token_scopes_read_needs_leads_read_and_write_needs_scoring_write(client, marketing):
    reader = make_token(marketing, ["leads:read"])
    writer = make_token(marketing, ["scoring:write"])
    assert client.get(RULES, headers=auth(reader)).status_code == 200
    denied = client.post(RULES, FIT, content_type="application/json", headers=auth(reader))
    assert denied.status_code == 403
    assert "scoring:write" in denied.json()["detail"]
    assert client.get(RULES, headers=auth(writer)).status_code == 403
    assert ScoringRule.objects.exists() is False


def test_invalid_rule_is_400_with_field_errors(client, marketing):
    client.force_login(marketing)
    response = client.post(
        RULES, {**FIT, "operator": "between", "value": ["a", 3]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "value" in response.json()
    missing = client.post(
        RULES, {"name": "x", "category": "engagement", "points": 3}, content_type="application/json"
    )
    assert missing.status_code == 400
    assert "event_type" in missing.json()
    assert ScoringRule.objects.exists() is False
    assert RuleSetVersion.objects.exists() is False


def test_put_is_not_offered(client, marketing):
    rule = services.create_rule(by=marketing, **FIT)
    client.force_login(marketing)
    assert client.put(f"{RULES}{rule.pk}/", FIT, content_type="application/json").status_code == 405


def test_lead_score_api_explains_the_score_and_404s_outside_scope(
    client, rep, other_rep, marketing
):
    services.create_rule(by=marketing, **FIT)
    mine = LeadFactory(owner=rep, industry="saas")
    theirs = LeadFactory(owner=other_rep, industry="SaaS")
    services.score_leads(lead_ids=[mine.pk, theirs.pk])
    token = make_token(rep, ["leads:read"])
    response = client.get(f"/api/v1/leads/{mine.pk}/score/", headers=auth(token))
    assert response.status_code == 200
    body = response.json()
    assert body["score"] == 10
    assert body["version"] == RuleSetVersion.objects.get().pk
    assert body["breakdown"] == [
        {
            "rule": ScoringRule.objects.get().pk,
            "name": "SaaS",
            "category": "fit",
            "count": 1,
            "points": 10,
        }
    ]
    assert client.get(f"/api/v1/leads/{theirs.pk}/score/", headers=auth(token)).status_code == 404
    assert client.get("/api/v1/leads/999999/score/", headers=auth(token)).status_code == 404
    assert (
        client.get(
            f"/api/v1/leads/{mine.pk}/score/", headers=auth(make_token(rep, ["events:write"]))
        ).status_code
        == 403
    )


def test_rescore_progress_is_exposed(client, marketing, monkeypatch):
    monkeypatch.setattr(services.scores, "BATCH_SIZE", 2)
    LeadFactory.create_batch(3)
    services.create_rule(by=marketing, **FIT)
    client.force_login(marketing)
    jobs = client.get("/api/v1/scoring/rescore-jobs/").json()
    assert (jobs[0]["status"], jobs[0]["done"], jobs[0]["total"]) == ("queued", 0, 3)
    assert RescoreJob.objects.get().batches.count() == 2
    services.run_rescore_job(job_id=jobs[0]["id"])
    job = client.get(f"/api/v1/scoring/rescore-jobs/{jobs[0]['id']}/").json()
    assert (job["status"], job["done"], job["total"], job["percent"]) == ("done", 3, 3, 100)


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_only_marketing_and_admin_send_events(client, role, request):
    user = request.getfixturevalue(role)
    lead = LeadFactory(owner=user)
    token = make_token(user, ["events:write"])
    event = {
        "id": "1",
        "lead": {"email": lead.email},
        "type": "email_opened",
        "occurred_at": "2026-01-01T00:00:00Z",
    }
    assert (
        client.post(
            "/api/v1/events/", event, content_type="application/json", headers=auth(token)
        ).status_code
        == 403
    )
    assert EngagementEvent.objects.exists() is False


def test_events_need_the_events_write_scope(client, marketing):
    lead = LeadFactory()
    token = make_token(marketing, ["leads:write"])
    event = {
        "id": "1",
        "lead": {"email": lead.email},
        "type": "email_opened",
        "occurred_at": "2026-01-01T00:00:00Z",
    }
    response = client.post(
        "/api/v1/events/", event, content_type="application/json", headers=auth(token)
    )
    assert response.status_code == 403
    assert "events:write" in response.json()["detail"]


@pytest.mark.parametrize("size", [5, 50])
def test_event_batch_queries_do_not_grow_with_the_batch(
    client, marketing, size, django_assert_max_num_queries
):
    from tests.scoring.factories import worked_example_rules

    worked_example_rules(by=marketing)
    leads = LeadFactory.create_batch(size)
    token = make_token(marketing, ["events:write"])
    events = [
        {
            "id": f"{lead.pk}-{n}",
            "lead": {"email": lead.email},
            "type": "email_clicked",
            "occurred_at": "2026-01-01T00:00:00Z",
        }
        for lead in leads
        for n in range(2)
    ]
    with django_assert_max_num_queries(18):
        response = client.post(
            "/api/v1/events/", events, content_type="application/json", headers=auth(token)
        )
    assert response.json()["created"] == 2 * size


def test_rules_list_queries_do_not_grow(client, marketing, django_assert_max_num_queries):
    client.force_login(marketing)
    for size in (2, 20):
        while ScoringRule.objects.count() < size:
            ScoringRule.objects.create(name="r", category="engagement", event_type="x", points=1)
        with django_assert_max_num_queries(4):
            assert len(client.get(RULES).json()) == size
