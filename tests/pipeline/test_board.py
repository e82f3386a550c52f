"""The board page, its fragments and the move endpoint, per role and at two sizes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity
from pipeline.models import Opportunity, StageChange
from tests.factories import AccountFactory, OpportunityFactory, PipelineFactory, UserFactory
from tests.pipeline.factories import LostReasonFactory, bulk_deals

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def pipeline():
    return PipelineFactory(name="Sales", is_default=True)


def board_url(pipeline, **params):
    url = reverse("pipeline:board", args=[pipeline.pk])
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def stage(pipeline, name):
    return pipeline.stages.get(name=name)


def test_board_default_redirects_to_the_default_pipeline_keeping_filters(client, rep, pipeline):
    PipelineFactory(name="Other")
    client.force_login(rep)
    response = client.get(reverse("pipeline:board_default") + "?owner=me")
    assert response.status_code == 302
    assert response["Location"] == board_url(pipeline, owner="me")


def test_rep_sees_own_cards_with_headers_and_not_others(client, rep, other_rep, pipeline):
    mine = OpportunityFactory(owner=rep, pipeline=pipeline, name="Mine", amount=Decimal("1000"))
    OpportunityFactory(owner=rep, pipeline=pipeline, name="Mine too", amount=Decimal("500"))
    OpportunityFactory(owner=other_rep, pipeline=pipeline, name="Theirs")
    client.force_login(rep)
    response = client.get(board_url(pipeline))
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="card-{mine.pk}"' in body
    assert "Theirs" not in body
    column = response.context["board"].columns[0]
    assert (column.stage.name, column.header.count, column.header.amount) == (
        "Qualification",
        2,
        Decimal("1500"),
    )
    assert column.header.weighted == Decimal("300")  # 20 %


def test_manager_sees_the_team_and_admin_sees_all(
    client, rep, other_rep, manager, admin_user, pipeline
):
    OpportunityFactory(owner=rep, pipeline=pipeline)
    OpportunityFactory(owner=other_rep, pipeline=pipeline)
    client.force_login(manager)
    assert client.get(board_url(pipeline)).context["board"].columns[0].header.count == 1
    client.force_login(admin_user)
    assert client.get(board_url(pipeline)).context["board"].columns[0].header.count == 2


def test_marketing_sees_an_empty_board(client, marketing, rep, pipeline):
    OpportunityFactory(owner=rep, pipeline=pipeline)
    client.force_login(marketing)
    response = client.get(board_url(pipeline))
    assert response.status_code == 200
    assert all(c.header.count == 0 for c in response.context["board"].columns)


def test_unknown_or_archived_pipeline_is_404(client, rep, pipeline):
    pipeline.is_archived = True
    pipeline.save()
    client.force_login(rep)
    assert client.get(board_url(pipeline)).status_code == 404


def test_filters_narrow_cards_and_headers(client, manager, rep, pipeline):
    today = timezone.localdate()
    OpportunityFactory(owner=rep, pipeline=pipeline, name="Alpha", expected_close_date=today)
    OpportunityFactory(
        owner=manager,
        pipeline=pipeline,
        name="Beta",
        is_stale=True,
        deal_type="expansion",
        account=AccountFactory(name="Zeta Corp"),
        expected_close_date=today + timedelta(days=40),
    )
    client.force_login(manager)

    def names(**params):
        board = client.get(board_url(pipeline, **params)).context["board"]
        return sorted(card.name for card in board.columns[0].cards), board.columns[0].header.count

    assert names() == (["Alpha", "Beta"], 2)
    assert names(owner="me") == (["Beta"], 1)
    assert names(owner=rep.pk) == (["Alpha"], 1)
    assert names(stale="on") == (["Beta"], 1)
    assert names(deal_type="expansion") == (["Beta"], 1)
    assert names(q="zeta") == (["Beta"], 1)
    assert names(close_to=today.isoformat()) == (["Alpha"], 1)
    assert names(team=rep.team_id) == (["Alpha", "Beta"], 2)
    assert names(owner="bogus", close_from="not-a-date") == (["Alpha", "Beta"], 2)


def test_cards_show_rotting_and_overdue_task(client, rep, pipeline):
    qualification = stage(pipeline, "Qualification")
    qualification.rot_after_days = 7
    qualification.save()
    old = timezone.now() - timedelta(days=10)
    rotting = OpportunityFactory(
        owner=rep, pipeline=pipeline, stage_entered_at=old, last_activity_at=old
    )
    fresh = OpportunityFactory(
        owner=rep, pipeline=pipeline, stage_entered_at=old, last_activity_at=timezone.now()
    )
    Activity.objects.create(
        kind="task",
        subject="Call back",
        owner=rep,
        opportunity=fresh,
        due_at=timezone.now() - timedelta(hours=2),
    )
    client.force_login(rep)
    cards = {c.pk: c for c in client.get(board_url(pipeline)).context["board"].columns[0].cards}
    assert (cards[rotting.pk].is_rotting, cards[rotting.pk].has_overdue_task) == (True, False)
    assert (cards[fresh.pk].is_rotting, cards[fresh.pk].has_overdue_task) == (False, True)


@pytest.mark.parametrize(
    ("role", "large"), [("rep", 5_000), ("manager", 5_000), ("admin_user", 50_000)]
)
def test_board_query_count_is_the_same_at_500_and_a_large_board(
    client, request, role, large, rep, pipeline, django_assert_num_queries
):
    user = request.getfixturevalue(role)
    owners = [rep, user, *UserFactory.create_batch(3, team=rep.team)]
    stages = list(pipeline.stages.filter(kind="open"))
    AccountFactory()
    client.force_login(user)
    bulk_deals(500, owners=owners, stages=stages)
    with django_assert_num_queries(7):
        small = client.get(board_url(pipeline))
    bulk_deals(large - 500, owners=owners, stages=stages, start=500)
    with django_assert_num_queries(7):
        large = client.get(board_url(pipeline, owner="team", q="deal"))
    assert small.status_code == large.status_code == 200
    assert all(len(c.cards) == 50 and c.more_after for c in large.context["board"].columns)


def test_more_cards_load_after_the_cursor(client, rep, pipeline):
    qualification = stage(pipeline, "Qualification")
    bulk_deals(120, owners=[rep], stages=[qualification])
    client.force_login(rep)
    first = client.get(board_url(pipeline)).context["board"].columns[0]
    url = reverse("pipeline:column_more", args=[pipeline.pk, qualification.pk])
    second = client.get(url, {"after": first.more_after}, headers=HTMX)
    third = client.get(url, {"after": second.context["column"].more_after}, headers=HTMX)
    seen = [
        c.pk for c in first.cards + second.context["column"].cards + third.context["column"].cards
    ]
    assert len(seen) == len(set(seen)) == 120
    assert third.context["column"].more_after == ""
    assert 'hx-trigger="intersect once"' in second.content.decode()


def move(client, deal, stage_, version=None, **extra):
    data = {"stage": stage_.pk, "version": version or deal.version, **extra}
    return client.post(reverse("pipeline:move_card", args=[deal.pk]), data, headers=HTMX)


def test_drop_moves_the_card_and_swaps_both_headers_out_of_band(client, rep, pipeline):
    deal = OpportunityFactory(owner=rep, pipeline=pipeline, amount=Decimal("1000"))
    proposal = stage(pipeline, "Proposal")
    client.force_login(rep)
    response = move(client, deal, proposal)
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="card-{deal.pk}"' in body
    assert 'data-version="2"' in body
    assert f'id="stage-{proposal.pk}-header" hx-swap-oob="true"' in body
    assert f'id="stage-{deal.stage_id}-header" hx-swap-oob="true"' in body
    headers = {h.stage.name: h.count for h in response.context["headers"]}
    assert headers["Qualification"] == 0
    assert headers["Proposal"] == 1
    assert StageChange.objects.get(opportunity=deal).to_stage == proposal


def test_move_query_count_is_bounded(client, rep, pipeline, django_assert_max_num_queries):
    deal = OpportunityFactory(owner=rep, pipeline=pipeline)
    bulk_deals(300, owners=[rep], stages=list(pipeline.stages.filter(kind="open")))
    proposal = stage(pipeline, "Proposal")
    client.force_login(rep)
    with django_assert_max_num_queries(13):  # 12 + the webhook outbox's subscriber read
        assert move(client, deal, proposal).status_code == 200


def test_stale_move_answers_409_with_the_current_card_and_changes_nothing(client, rep, pipeline):
    deal = OpportunityFactory(owner=rep, pipeline=pipeline)
    Opportunity.objects.filter(pk=deal.pk).update(version=5)
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Proposal"), version=1)
    body = response.content.decode()
    assert response.status_code == 409
    assert f'hx-swap-oob="afterbegin:#stage-{deal.stage_id}-cards"' in body
    assert 'data-version="5"' in body
    assert "Someone else changed this deal first" in body
    assert Opportunity.objects.get(pk=deal.pk).stage_id == deal.stage_id
    assert StageChange.objects.exists() is False


def test_lost_without_reason_answers_422_and_puts_the_card_back(client, rep, pipeline):
    deal = OpportunityFactory(owner=rep, pipeline=pipeline)
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Closed Lost"))
    assert response.status_code == 422
    assert "Say why the deal was lost." in response.content.decode()
    assert Opportunity.objects.get(pk=deal.pk).stage_id == deal.stage_id


def test_lost_with_reason_removes_the_card_from_the_board(client, rep, pipeline):
    deal = OpportunityFactory(owner=rep, pipeline=pipeline)
    reason = LostReasonFactory(label="Price")
    client.force_login(rep)
    response = move(client, deal, stage(pipeline, "Closed Lost"), lost_reason=reason.pk)
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="card-{deal.pk}"' not in body
    assert "marked lost" in body
    assert Opportunity.objects.get(pk=deal.pk).lost_reason == reason


def test_menu_move_reinserts_the_card_on_top_of_its_new_column(client, rep, pipeline):
    deal = OpportunityFactory(owner=rep, pipeline=pipeline)
    proposal = stage(pipeline, "Proposal")
    OpportunityFactory(owner=rep, pipeline=pipeline, stage=proposal, position=10)
    client.force_login(rep)
    response = move(client, deal, proposal, via="menu")
    assert f'hx-swap-oob="afterbegin:#stage-{proposal.pk}-cards"' in response.content.decode()
    assert Opportunity.objects.get(pk=deal.pk).position < 10


def test_rep_cannot_move_another_reps_deal(client, rep, other_rep, pipeline):
    deal = OpportunityFactory(owner=other_rep, pipeline=pipeline)
    client.force_login(rep)
    assert move(client, deal, stage(pipeline, "Proposal")).status_code == 404
    assert StageChange.objects.exists() is False


def test_a_stage_of_another_pipeline_is_refused_with_422(client, rep, pipeline):
    deal = OpportunityFactory(owner=rep, pipeline=pipeline)
    other = PipelineFactory().stages.first()
    client.force_login(rep)
    assert move(client, deal, other).status_code == 422
    assert Opportunity.objects.get(pk=deal.pk).version == 1


def test_move_without_htmx_redirects_to_the_deal(client, rep, pipeline):
    deal = OpportunityFactory(owner=rep, pipeline=pipeline)
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:move_card", args=[deal.pk]),
        {"stage": stage(pipeline, "Proposal").pk, "version": 1},
    )
    assert response.status_code == 302
    assert Opportunity.objects.get(pk=deal.pk).stage.name == "Proposal"


def test_lost_reason_options_fragment(client, rep):
    LostReasonFactory(label="Price")
    LostReasonFactory(label="Gone", is_active=False)
    client.force_login(rep)
    body = client.get(reverse("pipeline:lost_reason_options"), headers=HTMX).content.decode()
    assert "Price" in body
    assert "Gone" not in body
