"""move_opportunity returns a MoveResult: the saved deal and the warnings the mover sees
(a WIP limit passed), on the board, the deal page and the API alike."""

from __future__ import annotations

import dataclasses

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from pipeline import services
from pipeline.models import Stage
from tests.factories import OpportunityFactory, make_token

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
WARNING = "Proposal is over its WIP limit: 2 deals, limit 1."


@pytest.fixture
def crowded(rep):
    """A deal in Qualification, and a Proposal column already at its WIP limit of one."""
    deal = OpportunityFactory(owner=rep)
    proposal = deal.pipeline.stages.get(name="Proposal")
    Stage.objects.filter(pk=proposal.pk).update(wip_limit=1)
    proposal.refresh_from_db()
    OpportunityFactory(owner=rep, pipeline=deal.pipeline, stage=proposal)
    return deal, proposal


def test_a_move_over_the_wip_limit_passes_and_warns(rep, crowded):
    deal, proposal = crowded
    result = services.move_opportunity(
        opportunity=deal, to_stage=proposal, expected_version=1, by=rep
    )
    assert isinstance(result, services.MoveResult)
    assert (result.opportunity.pk, result.opportunity.stage, result.opportunity.version) == (
        deal.pk,
        proposal,
        2,
    )
    assert result.warnings == (WARNING,)
    assert not hasattr(result.opportunity, "wip_warning")  # nothing patched onto the deal
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.warnings = ()  # type: ignore[misc]


def test_reordering_inside_an_over_limit_column_warns_nothing(rep, crowded):
    deal, proposal = crowded
    moved = services.move_opportunity(
        opportunity=deal, to_stage=proposal, expected_version=1, by=rep
    ).opportunity
    again = services.move_opportunity(
        opportunity=moved, to_stage=proposal, expected_version=2, by=rep, position=1.0
    )
    assert (again.opportunity.position, again.warnings) == (1.0, ())


def test_the_board_shows_the_warning_with_the_moved_card(client, rep, crowded):
    deal, proposal = crowded
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:move_card", args=[deal.pk]),
        {"stage": proposal.pk, "version": 1},
        headers=HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert WARNING in body
    assert f'id="card-{deal.pk}"' in body


def test_a_move_without_htmx_flashes_the_warning_on_the_deal_page(client, rep, crowded):
    deal, proposal = crowded
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:move_card", args=[deal.pk]), {"stage": proposal.pk, "version": 1}
    )
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [WARNING]


def test_the_api_lists_the_warnings_only_when_there_are_some(rep, crowded):
    deal, proposal = crowded
    client = APIClient()
    scopes = ["opportunities:read", "opportunities:write"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(rep, scopes)}")
    url = f"/api/v1/opportunities/{deal.pk}/move/"
    warned = client.post(url, {"stage": proposal.pk, "version": 1}, format="json")
    assert (warned.status_code, warned.json()["warnings"]) == (200, [WARNING])
    negotiation = deal.pipeline.stages.get(name="Negotiation")
    quiet = client.post(url, {"stage": negotiation.pk, "version": 2}, format="json")
    assert quiet.status_code == 200
    assert "warnings" not in quiet.json()
