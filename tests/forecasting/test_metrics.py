from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity
from forecasting import metrics
from forecasting.periods import parse_period
from pipeline.models import LostReason, StageChange
from tests.factories import ActivityFactory, LeadFactory, UserFactory
from tests.forecasting.factories import aware, deal, stages

pytestmark = pytest.mark.django_db
TZ = timezone.get_default_timezone()
Q4 = parse_period("2026-Q4", 1)
NOW = datetime(2026, 11, 23, 12, tzinfo=TZ)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def fixture_deals(rep):
    """Hand-made: 3 won (2 new business, 1 expansion), 1 lost, 2 open, cycle 10/20/30 days."""
    made = []
    for amount, days, deal_type in (
        ("1000", 10, "new_business"),
        ("2000", 20, "new_business"),
        ("3000", 30, "expansion"),
    ):
        d = deal(
            rep, stage="Closed Won", amount=amount, close=date(2026, 10, 31), deal_type=deal_type
        )
        d.created_at = d.closed_at - timedelta(days=days)
        d.save(update_fields=["created_at"])
        made.append(d)
    reason = LostReason.objects.create(label="Price")
    lost = deal(rep, stage="Closed Lost", amount="500", close=date(2026, 11, 2), lost_reason=reason)
    deal(rep, stage="Negotiation", amount="4000")
    deal(rep, stage="Qualification", amount="6000")
    return [*made, lost]


def test_win_rate_deal_size_and_cycle_on_a_hand_made_fixture(rep, fixture_deals):
    filters = metrics.ReportFilters(period=Q4)
    closed = metrics.closed_deals(rep, filters)
    rates = metrics.win_rates(closed)
    assert rates["overall"] == {"won": 3, "closed": 4, "rate": 0.75}
    assert rates["new_business"] == {"won": 2, "closed": 3, "rate": 0.6667}
    assert rates["expansion"] == {"won": 1, "closed": 1, "rate": 1.0}
    size = metrics.deal_size_and_cycle(closed)
    assert size["avg_deal_size"] == Decimal("2000.00")
    assert size["avg_cycle_days"] == 20.0
    assert size["median_cycle_days"] == 20.0


def test_pipeline_velocity_formula():
    # 10 opportunities × 50 % × 2,000 ÷ 20 days = 500 a day; November has 30 days
    v = metrics.pipeline_velocity(
        opportunities=10, win_rate=0.5, avg_deal_size=Decimal("2000"), cycle_days=20.0,
        today=date(2026, 11, 23),
    )  # fmt: skip
    assert v["per_day"] == Decimal("500.00")
    assert v["month_projection"] == Decimal("15000.00")


def test_report_velocity_volume_value_and_lost_reasons(rep, fixture_deals):
    report = metrics.pipeline_report(rep, metrics.ReportFilters(period=Q4))
    assert report["four_vs"]["volume"] == 2
    assert report["four_vs"]["value"] == Decimal("10000")
    # 2 open × 75 % × 2,000 ÷ 20 days = 150 a day
    assert report["velocity"]["per_day"] == Decimal("150.00")
    assert report["lost_reasons"] == [{"reason": "Price", "count": 1, "amount": Decimal("500.00")}]


def test_time_in_stage_flags_the_bottleneck_and_conversion(rep):
    d1 = deal(rep, stage="Qualification")
    d2 = deal(rep, stage="Qualification")
    st = stages(d1.pipeline)
    moved = aware(date(2026, 11, 10))
    for d, days in ((d1, 2), (d2, 4)):
        StageChange.objects.create(
            opportunity=d,
            from_stage=None,
            to_stage=st["Qualification"],
            changed_at=moved - timedelta(days=days),
        )
        StageChange.objects.create(
            opportunity=d,
            from_stage=st["Qualification"],
            to_stage=st["Proposal"],
            changed_at=moved,
            seconds_in_from_stage=days * 86400,
        )
    StageChange.objects.create(
        opportunity=d1,
        from_stage=st["Proposal"],
        to_stage=st["Negotiation"],
        changed_at=moved,
        seconds_in_from_stage=86400,
    )
    rows = metrics.time_in_stage(
        rep, metrics.ReportFilters(period=Q4), list(d1.pipeline.stages.order_by("order"))
    )
    by_name = {r["stage"].name: r for r in rows}
    assert by_name["Qualification"]["median_days"] == 3.0
    assert by_name["Qualification"]["is_bottleneck"] is True
    assert by_name["Proposal"]["is_bottleneck"] is False
    conversion = metrics.stage_conversion(
        rep, metrics.ReportFilters(period=Q4), list(d1.pipeline.stages.order_by("order"))
    )
    assert [(r["stage"].name, r["reached"], r["conversion"]) for r in conversion] == [
        ("Qualification", 2, None), ("Proposal", 2, 1.0), ("Negotiation", 1, 0.5), ("Closed Won", 0, 0.0),
    ]  # fmt: skip


def test_lead_funnel_rates_and_speed_to_lead(admin_user):
    t = aware(date(2026, 11, 2))
    for i in range(4):
        LeadFactory(source="web_form", mql_at=t, srl_at=t if i < 2 else None, sql_at=t if i == 0 else None,
                    assigned_at=t, first_contacted_at=t + timedelta(minutes=2 + 10 * i))  # fmt: skip
    LeadFactory(source="event")
    funnel = metrics.lead_funnel(admin_user, metrics.ReportFilters(period=Q4))
    web = next(r for r in funnel["by_source"] if r["source"] == "Web form")
    assert (web["total"], web["mql"], web["srl"], web["sql"]) == (4, 4, 2, 1)
    assert web["mql_to_srl"] == 0.5
    assert web["srl_to_sql"] == 0.5
    assert funnel["total"]["total"] == 5
    speed = metrics.speed_to_lead(admin_user, metrics.ReportFilters(period=Q4))
    assert speed["median_minutes"] == 17.0  # 2, 12, 22, 32
    assert speed["within_sla"] == 0.25  # 5-minute SLA


def test_calculator_example_from_the_issue():
    result = metrics.pipeline_size(
        target_revenue="100000", avg_deal_size="500", close_rate="80", reps="10"
    )
    assert (result.deals_needed, result.leads_needed, result.leads_per_rep) == (200, 250, 25)
    same = metrics.pipeline_size(
        target_revenue="100000", avg_deal_size="500", close_rate="0.8", reps="10"
    )
    assert same.leads_needed == 250


def test_calculator_rejects_bad_input_with_field_errors():
    with pytest.raises(ValidationError) as exc:
        metrics.pipeline_size(target_revenue="lots", avg_deal_size="-1", close_rate="150", reps="0")
    assert set(exc.value.message_dict) == {"target_revenue", "avg_deal_size", "close_rate", "reps"}


def test_activity_report_counts_done_open_overdue_per_rep(manager, rep, other_rep):
    d = deal(rep)
    ActivityFactory(owner=rep, kind=Activity.Kind.CALL, lead=None, opportunity=d, done_at=NOW)
    ActivityFactory(
        owner=rep, kind=Activity.Kind.TASK, lead=None, opportunity=d, due_at=NOW - timedelta(days=1)
    )
    ActivityFactory(
        owner=rep, kind=Activity.Kind.TASK, lead=None, opportunity=d, due_at=NOW + timedelta(days=1)
    )
    ActivityFactory(
        owner=other_rep, kind=Activity.Kind.CALL, done_at=NOW, lead=LeadFactory(owner=other_rep)
    )
    rows = metrics.activity_report(manager, metrics.ReportFilters(period=Q4))
    assert len(rows) == 1
    assert rows[0]["call"] == {"done": 1, "open": 0, "overdue": 0}
    assert rows[0]["task"] == {"done": 0, "open": 2, "overdue": 1}


def test_reports_page_respects_scope_and_exports_csv(
    client, manager, rep, other_rep, fixture_deals
):
    deal(other_rep, stage="Negotiation", amount="77777")
    client.force_login(manager)
    page = client.get(reverse("forecasting:reports"), {"period": "2026-Q4"})
    assert page.status_code == 200
    assert "77,777" not in page.content.decode()
    assert 'id="kpi-volume">2<' in page.content.decode()
    csv = client.get(
        reverse("forecasting:reports"), {"period": "2026-Q4", "export": "lost_reasons"}
    )
    assert b"".join(csv.streaming_content).decode().splitlines()[1] == "Price,1,500.00"


def test_reports_bad_period_is_400(client, manager):
    client.force_login(manager)
    response = client.get(reverse("forecasting:reports"), {"period": "nope"})
    assert response.status_code == 400
    assert "not a period" in response.content.decode()


@pytest.mark.parametrize("size", [2, 8])
def test_reports_query_count_does_not_grow(
    client, admin_user, org, size, django_assert_max_num_queries
):
    for i in range(size):
        person = UserFactory(username=f"m{size}-{i}", role="rep", team=org["team_a"])
        deal(person, stage="Closed Won", close=date(2026, 10, 3))
        deal(person, stage="Closed Lost", close=date(2026, 10, 3))
        d = deal(person)
        ActivityFactory(owner=person, kind=Activity.Kind.CALL, lead=None, opportunity=d)
        LeadFactory(owner=person, assigned_at=NOW, first_contacted_at=NOW)
    client.force_login(admin_user)
    with django_assert_max_num_queries(26):
        response = client.get(reverse("forecasting:reports"), {"period": "2026-Q4"})
    assert response.status_code == 200
    with django_assert_max_num_queries(12):
        response = client.get(reverse("forecasting:pipeline_size"), {"target_revenue": "100000"})
    assert response.status_code == 200
