"""The account pages: the list (filters, htmx rows, open-deal totals) and an account's page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from activities.models import Activity
from pipeline import services
from tests.factories import AccountFactory, LeadFactory, OpportunityFactory, PipelineFactory

pytestmark = pytest.mark.django_db


def make_accounts(n, owner):
    for i in range(n):
        account = AccountFactory(name=f"Firm {i:03}", owner=owner, is_customer=i % 2 == 0)
        OpportunityFactory(owner=owner, account=account, amount=Decimal("100"))


def test_accounts_list_query_count_is_the_same_at_two_sizes(
    client, manager, rep, django_assert_num_queries
):
    client.force_login(manager)
    make_accounts(3, rep)
    with django_assert_num_queries(7):
        client.get(reverse("accounts:list"))
    make_accounts(60, rep)
    with django_assert_num_queries(7):
        response = client.get(reverse("accounts:list"))
    page = response.context["page"]
    assert page.paginator.count == 63
    assert len(page.object_list) == 50
    assert (page.object_list[0].open_deals, page.object_list[0].open_amount) == (1, Decimal("100"))


def test_accounts_list_filters(client, rep, other_rep):
    make_accounts(4, rep)
    AccountFactory(name="Hidden", owner=other_rep)
    client.force_login(rep)

    def names(**params):
        response = client.get(reverse("accounts:list"), params)
        return [a.name for a in response.context["page"].object_list]

    assert names() == ["Firm 000", "Firm 001", "Firm 002", "Firm 003"]
    assert names(kind="customer") == ["Firm 000", "Firm 002"]
    assert names(kind="prospect", q="003") == ["Firm 003"]
    assert names(owner="me") == ["Firm 000", "Firm 001", "Firm 002", "Firm 003"]


def test_accounts_list_htmx_returns_rows_only(client, rep):
    make_accounts(1, rep)
    client.force_login(rep)
    response = client.get(reverse("accounts:list"), headers={"HX-Request": "true"})
    assert next(t.name for t in response.templates) == "accounts/_account_rows.html"


def test_account_page_shows_deals_with_totals_leads_and_timeline(client, rep):
    account = AccountFactory(owner=rep, name="Initech")
    pipeline = PipelineFactory()
    OpportunityFactory(owner=rep, account=account, pipeline=pipeline, amount=Decimal("100"))
    won = OpportunityFactory(owner=rep, account=account, pipeline=pipeline, amount=Decimal("40"))
    services.move_opportunity(
        opportunity=won,
        to_stage=pipeline.stages.get(kind="won"),
        expected_version=1,
        by=rep,
    )
    lead = LeadFactory(owner=rep, account=account, first_name="Peter")
    Activity.objects.create(kind="note", subject="Met Peter", owner=rep, lead=lead)
    client.force_login(rep)
    response = client.get(reverse("accounts:detail", args=[account.pk]))
    totals = response.context["detail"].totals
    assert (totals.open_count, totals.open_amount, totals.won_count, totals.won_amount) == (
        1,
        Decimal("100"),
        1,
        Decimal("40"),
    )
    body = response.content.decode()
    assert "Peter" in body
    assert "Met Peter" in body


def test_account_page_is_404_outside_scope(client, rep, other_rep):
    account = AccountFactory(owner=other_rep)
    client.force_login(rep)
    assert client.get(reverse("accounts:detail", args=[account.pk])).status_code == 404
