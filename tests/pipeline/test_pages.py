"""Deal page, new deal and the pipeline settings pages, per role (account pages: tests/accounts)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity
from pipeline import services
from pipeline.models import LostReason, Opportunity, Pipeline, Stage
from tests.factories import (
    AccountFactory,
    ContactFactory,
    LeadFactory,
    OpportunityFactory,
    PipelineFactory,
)

pytestmark = pytest.mark.django_db


def test_deal_page_shows_path_history_activities_and_tasks(client, rep):
    deal = OpportunityFactory(owner=rep, name="Big deal")
    services.move_opportunity(
        opportunity=deal,
        to_stage=deal.pipeline.stages.get(name="Proposal"),
        expected_version=1,
        by=rep,
    )
    Activity.objects.create(
        kind="task",
        subject="Send contract",
        owner=rep,
        opportunity=deal,
        due_at=timezone.now() - timedelta(hours=1),
    )
    client.force_login(rep)
    response = client.get(reverse("pipeline:opportunity", args=[deal.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    path = {step.stage.name: step.state for step in response.context["detail"].path}
    assert path == {
        "Qualification": "done",
        "Proposal": "current",
        "Negotiation": "todo",
        "Closed Won": "todo",
    }
    assert "Send contract" in body
    assert "overdue" in body
    assert "Qualification → " in body


def test_deal_page_is_404_outside_scope(client, rep, other_rep):
    deal = OpportunityFactory(owner=other_rep)
    client.force_login(rep)
    assert client.get(reverse("pipeline:opportunity", args=[deal.pk])).status_code == 404
    assert client.get(reverse("pipeline:opportunity_edit", args=[deal.pk])).status_code == 404


def test_edit_saves_and_bumps_version(client, rep):
    deal = OpportunityFactory(owner=rep, name="Old")
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:opportunity_edit", args=[deal.pk]),
        {
            "name": "New name",
            "owner": rep.pk,
            "amount": "2500",
            "deal_type": "new_business",
            "forecast_category": "commit",
            "version": 1,
        },
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.name, deal.amount, deal.version, deal.forecast_category_overridden) == (
        "New name",
        Decimal("2500"),
        2,
        True,
    )


def test_edit_with_bad_input_is_422_and_changes_nothing(client, rep):
    deal = OpportunityFactory(owner=rep, name="Old")
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:opportunity_edit", args=[deal.pk]),
        {"name": "", "owner": rep.pk, "amount": "-5", "deal_type": "new_business"},
    )
    assert response.status_code == 422
    assert Opportunity.objects.get(pk=deal.pk).name == "Old"


def test_logging_an_activity_refreshes_last_activity(client, rep):
    deal = OpportunityFactory(owner=rep, last_activity_at=timezone.now() - timedelta(days=9))
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:opportunity_activity", args=[deal.pk]),
        {"kind": "call", "subject": "Discovery call"},
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert timezone.now() - deal.last_activity_at < timedelta(minutes=1)
    assert Activity.objects.get(opportunity=deal).subject == "Discovery call"


def test_task_without_due_date_is_422(client, rep):
    deal = OpportunityFactory(owner=rep)
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:opportunity_activity", args=[deal.pk]), {"kind": "task", "subject": "x"}
    )
    assert response.status_code == 422
    assert Activity.objects.exists() is False


def test_completing_a_task(client, rep):
    deal = OpportunityFactory(owner=rep)
    task = Activity.objects.create(
        kind="task", subject="Call", owner=rep, opportunity=deal, due_at=timezone.now()
    )
    client.force_login(rep)
    client.post(reverse("pipeline:task_done", args=[deal.pk, task.pk]))
    assert Activity.objects.get(pk=task.pk).done_at is not None


def test_new_deal_from_a_column_lands_in_that_column(client, rep):
    pipeline = PipelineFactory()
    proposal = pipeline.stages.get(name="Proposal")
    account = AccountFactory(is_customer=True)
    OpportunityFactory(owner=rep, account=account, pipeline=pipeline)  # so rep sees the account
    client.force_login(rep)
    url = reverse("pipeline:opportunity_new", args=[pipeline.pk])
    assert client.get(url, {"stage": proposal.pk}).status_code == 200
    response = client.post(
        url,
        {"name": "Upsell", "stage": proposal.pk, "account": account.pk, "amount": "900"},
    )
    assert response.status_code == 302
    deal = Opportunity.objects.get(name="Upsell")
    assert (deal.stage, deal.owner, deal.deal_type) == (proposal, rep, "expansion")


def test_new_deal_with_missing_name_is_422(client, rep):
    pipeline = PipelineFactory()
    client.force_login(rep)
    url = reverse("pipeline:opportunity_new", args=[pipeline.pk])
    response = client.post(url, {"name": "", "stage": pipeline.stages.first().pk})
    assert response.status_code == 422
    assert Opportunity.objects.exists() is False


# --- Settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["pipeline:settings", "pipeline:lost_reasons"],
)
def test_reps_cannot_open_pipeline_settings(client, rep, name):
    client.force_login(rep)
    assert client.get(reverse(name)).status_code == 403


def test_settings_index_links_pipeline_settings_for_managers(client, manager, rep):
    client.force_login(manager)
    assert reverse("pipeline:settings") in client.get(reverse("crm:settings")).content.decode()
    client.force_login(rep)
    assert reverse("pipeline:settings") not in client.get(reverse("crm:settings")).content.decode()


def test_manager_creates_a_pipeline_and_adds_a_stage(client, manager):
    client.force_login(manager)
    response = client.post(reverse("pipeline:settings"), {"name": "Partners"})
    pipeline = Pipeline.objects.get(name="Partners")
    assert response.status_code == 302
    assert client.get(reverse("pipeline:settings_pipeline", args=[pipeline.pk])).status_code == 200
    response = client.post(
        reverse("pipeline:stage_add", args=[pipeline.pk]),
        {
            "new-name": "Demo",
            "new-probability": 40,
            "new-kind": "open",
            "new-forecast_category": "pipeline",
            "new-rot_after_days": 10,
            "new-wip_limit": "",
        },
    )
    assert response.status_code == 302
    assert pipeline.stages.get(name="Demo").rot_after_days == 10


def test_archiving_a_stage_with_deals_is_refused_with_a_message(client, admin_user, rep):
    deal = OpportunityFactory(owner=rep)
    client.force_login(admin_user)
    response = client.post(
        reverse("pipeline:stage_edit", args=[deal.stage_id]),
        {"action": "archive"},
    )
    assert response.status_code == 422
    assert "holds deals" in response.content.decode()
    assert Stage.objects.get(pk=deal.stage_id).is_archived is False


def test_stage_edit_saves_probability_and_wip(client, admin_user):
    pipeline = PipelineFactory()
    proposal = pipeline.stages.get(name="Proposal")
    client.force_login(admin_user)
    prefix = f"s{proposal.pk}"
    response = client.post(
        reverse("pipeline:stage_edit", args=[proposal.pk]),
        {
            f"{prefix}-name": "Proposal sent",
            f"{prefix}-probability": 55,
            f"{prefix}-kind": "open",
            f"{prefix}-forecast_category": "best_case",
            f"{prefix}-rot_after_days": 0,
            f"{prefix}-wip_limit": 12,
        },
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.name, proposal.probability, proposal.wip_limit) == ("Proposal sent", 55, 12)


def test_stage_edit_with_probability_over_100_is_422(client, admin_user):
    pipeline = PipelineFactory()
    proposal = pipeline.stages.get(name="Proposal")
    client.force_login(admin_user)
    prefix = f"s{proposal.pk}"
    response = client.post(
        reverse("pipeline:stage_edit", args=[proposal.pk]),
        {
            f"{prefix}-name": "Proposal",
            f"{prefix}-probability": 150,
            f"{prefix}-kind": "open",
            f"{prefix}-forecast_category": "best_case",
            f"{prefix}-rot_after_days": 0,
        },
    )
    assert response.status_code == 422
    assert Stage.objects.get(pk=proposal.pk).probability == 60


def test_reorder_stages_by_drag(client, manager):
    pipeline = PipelineFactory()
    ids = list(pipeline.stages.order_by("order").values_list("pk", flat=True))
    client.force_login(manager)
    url = reverse("pipeline:stages_reorder", args=[pipeline.pk])
    response = client.post(url, {"stage": [ids[2], ids[0], ids[1], *ids[3:]]})
    assert response.status_code == 204
    assert list(pipeline.stages.order_by("order").values_list("pk", flat=True))[:3] == [
        ids[2],
        ids[0],
        ids[1],
    ]
    assert client.post(url, {"stage": ids[:2]}).status_code == 422


def test_lost_reasons_add_and_deactivate(client, manager):
    client.force_login(manager)
    client.post(reverse("pipeline:lost_reasons"), {"label": "Price", "is_active": "on"})
    reason = LostReason.objects.get(label="Price")
    client.post(reverse("pipeline:lost_reasons"), {"reason": reason.pk, "label": "Price"})
    assert LostReason.objects.get(pk=reason.pk).is_active is False
    response = client.post(reverse("pipeline:lost_reasons"), {"label": "price"})
    assert response.status_code == 422


def add_history(deal, rep, n):
    for i in range(n):
        Activity.objects.create(kind="note", subject=f"Note {i}", owner=rep, opportunity=deal)
    stages = list(deal.pipeline.stages.filter(kind="open").order_by("order"))
    for i in range(n):
        deal.refresh_from_db()
        services.move_opportunity(
            opportunity=deal,
            to_stage=stages[(i + 1) % len(stages)],
            expected_version=deal.version,
            by=rep,
        )


def test_deal_and_account_pages_query_counts_do_not_grow(client, rep, django_assert_num_queries):
    account = AccountFactory(owner=rep)
    deal = OpportunityFactory(owner=rep, account=account)
    client.force_login(rep)
    add_history(deal, rep, 2)
    # the deal page: 9 + the compose card's e-mail templates and the deal's people
    with django_assert_num_queries(11):
        client.get(reverse("pipeline:opportunity", args=[deal.pk]))
    with django_assert_num_queries(10):  # the account page reads its contacts too
        client.get(reverse("accounts:detail", args=[account.pk]))
    add_history(deal, rep, 20)
    for _ in range(5):
        OpportunityFactory(owner=rep, account=account, pipeline=deal.pipeline)
        LeadFactory(owner=rep, account=account)
        ContactFactory(owner=rep, account=account)
    with django_assert_num_queries(11):
        response = client.get(reverse("pipeline:opportunity", args=[deal.pk]))
    assert len(response.context["detail"].history) == 22
    with django_assert_num_queries(10):
        response = client.get(reverse("accounts:detail", args=[account.pk]))
    assert len(response.context["detail"].contacts) == 5
    assert len(response.context["detail"].opportunities) == 6
