from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from forecasting import selectors, services
from forecasting.models import ForecastSnapshot, SnapshotLine
from forecasting.periods import parse_period
from forecasting.tasks import take_weekly_snapshot_task
from pipeline.models import Opportunity
from tests.forecasting.factories import deal, stages

pytestmark = pytest.mark.django_db
TZ = timezone.get_default_timezone()
Q4 = parse_period("2026-Q4", 1)
LAST_MONDAY = datetime(2026, 11, 16, 0, 30, tzinfo=TZ)


def test_snapshot_records_every_open_deal_once_even_when_rerun(rep):
    deal(rep, amount="100")
    deal(rep, stage="Proposal", amount="200", close=date(2027, 2, 1))
    deal(rep, stage="Closed Won", amount="300")
    first, written = services.take_weekly_snapshot(now=LAST_MONDAY)
    again, written_again = services.take_weekly_snapshot(now=LAST_MONDAY.replace(hour=9))
    assert (written, written_again) == (True, False)
    assert first.pk == again.pk
    assert ForecastSnapshot.objects.count() == 1
    assert SnapshotLine.objects.count() == 2
    line = SnapshotLine.objects.get(amount=Decimal("200"))
    assert (line.forecast_category, line.expected_close_date, line.owner) == (
        "best_case", date(2027, 2, 1), rep,
    )  # fmt: skip


def test_task_is_idempotent_and_logs_a_job_run(rep):
    deal(rep)
    with time_machine.travel(LAST_MONDAY, tick=False):
        take_weekly_snapshot_task()
        take_weekly_snapshot_task()
    assert SnapshotLine.objects.count() == 1
    from crm.models import JobRun

    assert JobRun.objects.filter(job="forecast_weekly_snapshot", status="ok").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_snapshot_runs_write_the_lines_once(rep):
    for _ in range(5):
        deal(rep)
    errors = []

    def run():
        try:
            services.take_weekly_snapshot(now=LAST_MONDAY)
        except Exception as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ForecastSnapshot.objects.count() == 1
    assert SnapshotLine.objects.count() == 5


def test_week_over_week_classifies_each_kind_of_change(manager, rep):
    # given: last week's snapshot of six deals
    pipeline_deals = {
        "won": deal(rep, amount="100", name="to win"),
        "lost": deal(rep, amount="100", name="to lose"),
        "pushed": deal(rep, amount="100", name="to push"),
        "pulled": deal(rep, amount="100", name="to pull", close=date(2027, 2, 1)),
        "up": deal(rep, stage="Proposal", amount="100", name="to grow"),
        "still": deal(rep, amount="100", name="unchanged"),
    }
    services.take_weekly_snapshot(now=LAST_MONDAY)
    st = stages(pipeline_deals["won"].pipeline)
    now = datetime(2026, 11, 20, 10, tzinfo=TZ)
    Opportunity.objects.filter(pk=pipeline_deals["won"].pk).update(
        stage=st["Closed Won"], closed_at=now
    )
    Opportunity.objects.filter(pk=pipeline_deals["lost"].pk).update(
        stage=st["Closed Lost"], closed_at=now
    )
    Opportunity.objects.filter(pk=pipeline_deals["pushed"].pk).update(
        expected_close_date=date(2027, 1, 10)
    )
    Opportunity.objects.filter(pk=pipeline_deals["pulled"].pk).update(
        expected_close_date=date(2026, 12, 1)
    )
    Opportunity.objects.filter(pk=pipeline_deals["up"].pk).update(
        amount=Decimal("150"), forecast_category="commit"
    )
    with time_machine.travel(date(2026, 11, 23), tick=False):
        deal(rep, amount="70", name="brand new")
        # when
        changes = selectors.what_changed(
            viewer=manager, node=selectors.home_node(manager), period=Q4
        )
        rollup = selectors.forecast_rollup(viewer=manager, period=Q4)
    # then
    found = sorted((c.kind, c.name) for c in changes)
    assert found == [
        ("amount_up", "to grow"),
        ("category", "to grow"),
        ("lost", "to lose"),
        ("new", "brand new"),
        ("pulled_in", "to pull"),
        ("pushed", "to push"),
        ("won", "to win"),
    ]
    row = next(r for r in rollup.rows if r.node.id == rep.pk)
    # last week: commit 400 (won, lost, pushed, still) ; now: 100 won + commit (pulled 100,
    # still 100, grown 150, new 70) = 520
    assert row.figures.last_week_commit_forecast == Decimal("400")
    assert row.figures.change_commit_forecast == Decimal("120")


def test_classification_is_pure_and_ignores_deals_outside_the_quarter():
    before = {
        "amount": Decimal(1),
        "forecast_category": "commit",
        "expected_close_date": date(2027, 3, 1),
    }
    after = {**before, "kind": "open", "amount": Decimal(5)}
    assert selectors.classify_change(before, after, Q4) == []
    assert selectors.classify_change(
        None, {**after, "expected_close_date": date(2026, 12, 1)}, Q4
    ) == ["new"]


def test_accuracy_compares_each_weeks_commit_forecast_with_final_closed_won(admin_user, rep, org):
    # given: two weekly snapshots in Q3, a deal committed all along and won at the end
    q3 = parse_period("2026-Q3", 1)
    d = deal(rep, amount="1000", close=date(2026, 9, 20))
    services.take_weekly_snapshot(now=datetime(2026, 9, 7, 1, tzinfo=TZ))
    Opportunity.objects.filter(pk=d.pk).update(amount=Decimal("2000"))
    services.take_weekly_snapshot(now=datetime(2026, 9, 14, 1, tzinfo=TZ))
    st = stages(d.pipeline)
    Opportunity.objects.filter(pk=d.pk).update(
        stage=st["Closed Won"], closed_at=datetime(2026, 9, 18, 12, tzinfo=TZ)
    )
    # when
    with time_machine.travel(date(2026, 11, 23), tick=False):
        node = selectors.resolve_node(admin_user, team_id=org["team_a"].pk)
        trend = selectors.weekly_trend(viewer=admin_user, node=node, period=q3)
    # then
    total = trend[-1]
    assert total.final == Decimal("2000")
    assert [p.commit_forecast for p in total.weeks] == [Decimal("1000"), Decimal("2000")]
    assert total.accuracy == 0.75  # mean of 1 − 0.5 and 1 − 0
    rep_row = next(r for r in trend if r.node.id == rep.pk)
    assert rep_row.final == Decimal("2000")
