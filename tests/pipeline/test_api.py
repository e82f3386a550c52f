"""/api/v1/pipelines/ and /api/v1/opportunities/: fields, filters, scopes, 404s and 409s."""

from __future__ import annotations

from datetime import date

import pytest
from rest_framework.test import APIClient

from pipeline.models import Opportunity, StageChange
from tests.factories import AccountFactory, OpportunityFactory, PipelineFactory, make_token
from tests.pipeline.factories import LostReasonFactory, bulk_deals

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "name",
    "account",
    "owner",
    "pipeline",
    "stage",
    "amount",
    "expected_close_date",
    "deal_type",
    "forecast_category",
    "next_step",
    "next_step_date",
    "is_stale",
    "version",
    "stage_entered_at",
    "last_activity_at",
    "closed_at",
}


def api(user, scopes=("opportunities:read", "opportunities:write")):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, list(scopes))}")
    return client


def test_pipelines_list_their_stages_in_order(rep):
    pipeline = PipelineFactory(name="Sales", is_default=True)
    response = api(rep, ["opportunities:read"]).get("/api/v1/pipelines/")
    assert response.status_code == 200
    [body] = response.json()
    assert (body["id"], body["name"]) == (pipeline.pk, "Sales")
    assert [(s["name"], s["order"], s["probability"], s["kind"]) for s in body["stages"]] == [
        ("Qualification", 0, 20, "open"),
        ("Proposal", 1, 60, "open"),
        ("Negotiation", 2, 80, "open"),
        ("Closed Won", 3, 100, "won"),
        ("Closed Lost", 4, 0, "lost"),
    ]
    assert set(body["stages"][0]) == {"id", "name", "order", "probability", "kind"}


def test_token_without_the_scope_is_refused(rep):
    response = api(rep, ["leads:read"]).get("/api/v1/opportunities/")
    assert response.status_code == 403


def test_read_token_cannot_write(rep):
    deal = OpportunityFactory(owner=rep)
    client = api(rep, ["opportunities:read"])
    assert client.patch(f"/api/v1/opportunities/{deal.pk}/", {"name": "x"}).status_code == 403
    assert Opportunity.objects.get(pk=deal.pk).name == deal.name


@pytest.mark.parametrize(("role", "visible"), [("rep", 1), ("manager", 1), ("admin_user", 2)])
def test_list_respects_the_scope(request, role, visible, rep, other_rep):
    OpportunityFactory(owner=rep)
    OpportunityFactory(owner=other_rep)
    user = request.getfixturevalue(role)
    response = api(user).get("/api/v1/opportunities/")
    assert len(response.json()["results"]) == visible
    assert set(response.json()["results"][0]) == FIELDS


def test_marketing_sees_no_deals(marketing, rep):
    OpportunityFactory(owner=rep)
    assert api(marketing).get("/api/v1/opportunities/").json()["results"] == []


def test_list_filters_and_cursor_pagination(rep, django_assert_max_num_queries):
    pipeline = PipelineFactory()
    stages = list(pipeline.stages.filter(kind="open"))
    bulk_deals(30, owners=[rep], stages=stages)
    OpportunityFactory(
        owner=rep, pipeline=pipeline, is_stale=True, expected_close_date=date(2027, 1, 5)
    )
    client = api(rep)
    assert len(client.get("/api/v1/opportunities/", {"is_stale": "true"}).json()["results"]) == 1
    ranged = client.get(
        "/api/v1/opportunities/",
        {"expected_close_date_after": "2027-01-01", "expected_close_date_before": "2027-01-31"},
    )
    assert len(ranged.json()["results"]) == 1
    by_stage = client.get("/api/v1/opportunities/", {"stage": stages[1].pk, "owner": rep.pk})
    assert len(by_stage.json()["results"]) == 10
    seen, url = [], "/api/v1/opportunities/?page_size=7"
    while url:
        with django_assert_max_num_queries(4):
            page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 31


def test_list_query_count_is_the_same_at_two_sizes(rep, django_assert_num_queries):
    pipeline = PipelineFactory()
    stages = list(pipeline.stages.filter(kind="open"))
    client = api(rep)
    bulk_deals(5, owners=[rep], stages=stages)
    client.get("/api/v1/pipelines/")  # the token's last_used_at is touched once a minute
    with django_assert_num_queries(2):
        client.get("/api/v1/opportunities/")
    bulk_deals(500, owners=[rep], stages=stages, start=5)
    with django_assert_num_queries(2):
        client.get("/api/v1/opportunities/")


def test_out_of_scope_deal_is_404_for_read_patch_and_move(rep, other_rep):
    deal = OpportunityFactory(owner=other_rep)
    client = api(rep)
    assert client.get(f"/api/v1/opportunities/{deal.pk}/").status_code == 404
    assert client.patch(f"/api/v1/opportunities/{deal.pk}/", {"name": "x"}).status_code == 404
    move = client.post(
        f"/api/v1/opportunities/{deal.pk}/move/", {"stage": deal.stage_id, "version": 1}
    )
    assert move.status_code == 404
    assert Opportunity.objects.get(pk=deal.pk).version == 1


def test_create_defaults_pipeline_stage_and_deal_type(rep):
    pipeline = PipelineFactory(is_default=True)
    account = AccountFactory(is_customer=True, owner=rep)
    response = api(rep).post(
        "/api/v1/opportunities/",
        {"name": "Seats", "account": account.pk, "amount": "1200.00"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["pipeline"], body["deal_type"], body["owner"], body["version"]) == (
        pipeline.pk,
        "expansion",
        rep.pk,
        1,
    )
    assert body["stage"] == pipeline.stages.get(name="Qualification").pk


def test_create_with_bad_input_is_400_with_field_errors(rep, other_rep):
    PipelineFactory(is_default=True)
    hidden = AccountFactory(owner=other_rep)
    response = api(rep).post(
        "/api/v1/opportunities/",
        {"name": "", "amount": "-1", "account": hidden.pk, "owner": other_rep.pk},
        format="json",
    )
    assert response.status_code == 400
    assert {"name", "amount", "account", "owner"} <= set(response.json())
    assert Opportunity.objects.exists() is False


def test_patch_updates_fields_and_refuses_stage_changes(rep):
    deal = OpportunityFactory(owner=rep)
    client = api(rep)
    response = client.patch(
        f"/api/v1/opportunities/{deal.pk}/",
        {"next_step": "Call CFO", "forecast_category": "commit", "version": 1},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["next_step"], response.json()["version"]) == ("Call CFO", 2)
    refused = client.patch(f"/api/v1/opportunities/{deal.pk}/", {"stage": 1}, format="json")
    assert refused.status_code == 400
    stale = client.patch(
        f"/api/v1/opportunities/{deal.pk}/", {"name": "x", "version": 1}, format="json"
    )
    assert stale.status_code == 409
    assert stale.json()["version"] == 2
    assert client.put(f"/api/v1/opportunities/{deal.pk}/", {}, format="json").status_code == 405


def test_move_records_history_and_stale_version_is_409_with_current_version(rep):
    deal = OpportunityFactory(owner=rep)
    proposal = deal.pipeline.stages.get(name="Proposal")
    client = api(rep)
    url = f"/api/v1/opportunities/{deal.pk}/move/"
    ok = client.post(url, {"stage": proposal.pk, "version": 1}, format="json")
    assert ok.status_code == 200
    assert (ok.json()["stage"], ok.json()["version"], ok.json()["forecast_category"]) == (
        proposal.pk,
        2,
        "best_case",
    )
    stale = client.post(url, {"stage": deal.stage_id, "version": 1}, format="json")
    assert stale.status_code == 409
    assert (stale.json()["version"], stale.json()["stage"]) == (2, proposal.pk)
    assert StageChange.objects.filter(opportunity=deal).count() == 1


def test_move_to_lost_needs_a_known_reason(rep):
    deal = OpportunityFactory(owner=rep)
    lost = deal.pipeline.stages.get(kind="lost")
    LostReasonFactory(label="Price")
    client = api(rep)
    url = f"/api/v1/opportunities/{deal.pk}/move/"
    missing = client.post(url, {"stage": lost.pk, "version": 1}, format="json")
    assert missing.status_code == 400
    assert "lost_reason" in missing.json()
    unknown = client.post(
        url, {"stage": lost.pk, "version": 1, "lost_reason": "Vibes"}, format="json"
    )
    assert unknown.status_code == 400
    assert "Price" in unknown.json()["lost_reason"][0]
    ok = client.post(url, {"stage": lost.pk, "version": 1, "lost_reason": "price"}, format="json")
    assert ok.status_code == 200
    assert ok.json()["closed_at"] is not None


def test_move_to_a_stage_of_another_pipeline_is_400(rep):
    deal = OpportunityFactory(owner=rep)
    other = PipelineFactory().stages.first()
    response = api(rep).post(
        f"/api/v1/opportunities/{deal.pk}/move/", {"stage": other.pk, "version": 1}, format="json"
    )
    assert response.status_code == 400
    assert Opportunity.objects.get(pk=deal.pk).version == 1


def test_openapi_schema_documents_the_pipeline_endpoints(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/v1/pipelines/", "/api/v1/opportunities/{id}/move/"} <= set(paths)
