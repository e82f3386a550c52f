"""Weekly trend and forecast accuracy from the snapshots, and the charts' data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Q, Sum
from django.db.models.functions import TruncWeek

from crm.models import User
from forecasting.models import ForecastSnapshot, SnapshotLine
from forecasting.periods import Period, week_start
from forecasting.selectors.rollup import (
    SEGMENT,
    WON,
    ZERO,
    Node,
    Rollup,
    forecast_rollup,
    scoped_deals,
)
from pipeline.models import ForecastCategory

# --- trend and accuracy ---------------------------------------------------------------------


@dataclass
class WeekPoint:
    week: date
    closed_won: Decimal
    commit_forecast: Decimal
    best_case_forecast: Decimal


@dataclass
class AccuracyRow:
    node: Node
    final: Decimal
    weeks: list[WeekPoint]

    @property
    def accuracy(self) -> float | None:
        """Mean of 1 − |forecast − final| ÷ final over the weeks (None without data)."""
        if not self.weeks or not self.final:
            return None
        errors = [abs(w.commit_forecast - self.final) / self.final for w in self.weeks]
        return round(max(0.0, 1 - float(sum(errors) / len(errors))), 4)


def weekly_trend(
    *, viewer: User, node: Node, period: Period, rollup: Rollup | None = None
) -> list[AccuracyRow]:
    """For each row of the node (and a last "Total" row): each snapshot week's closed won to
    date, commit forecast and best case forecast, and the final closed won. Three queries."""
    snapshots = list(
        ForecastSnapshot.objects.filter(
            week_start__gte=week_start(period.start),
            week_start__lt=period.end,
            completed_at__isnull=False,
        ).order_by("week_start")
    )
    if not snapshots:
        return []  # no week to plot: skip the closed-won scan as well
    lines = SnapshotLine.objects.visible_to(viewer).filter(
        snapshot__in=snapshots,
        expected_close_date__gte=period.start,
        expected_close_date__lt=period.end,
    )
    won = scoped_deals(viewer, node).filter(
        stage__kind=WON, closed_at__gte=period.start_at, closed_at__lt=period.end_at
    )
    if node.kind == "team":
        lines = lines.filter(owner__team__path__startswith=node.path)
    elif node.kind == "user":
        lines = lines.filter(owner_id=node.id)
    # (snapshot, owner) → [commit, best case]
    open_by: defaultdict[tuple[Any, Any], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for row in (
        lines.order_by()
        .values("snapshot_id", "owner_id")
        .annotate(
            commit=Sum("amount", filter=Q(forecast_category=ForecastCategory.COMMIT)),
            best=Sum("amount", filter=Q(forecast_category=ForecastCategory.BEST_CASE)),
        )
    ):
        open_by[(row["snapshot_id"], row["owner_id"])] = [
            row["commit"] or ZERO,
            row["best"] or ZERO,
        ]
    won_by_week: dict[tuple[int, date], Decimal] = defaultdict(lambda: ZERO)
    for row in (
        won.order_by()
        .annotate(week=TruncWeek("closed_at"))
        .values("owner_id", "week")
        .annotate(total=Sum("amount"))
    ):
        week = row["week"].date() if hasattr(row["week"], "date") else row["week"]
        won_by_week[(row["owner_id"], week)] += row["total"] or ZERO

    # Map owners to the node's rows with the same tree rules as the rollup.
    if rollup is None:
        rollup = forecast_rollup(viewer=viewer, period=period, node=node, with_changes=False)
    owner_ids = {o for o, _ in won_by_week} | {o for _, o in open_by}
    owner_row = _owner_rows(rollup, owner_ids)
    row_nodes = [r.node for r in rollup.rows] + [Node("total", None, "Total")]
    out = []
    for row_node in row_nodes:
        members = [o for o, k in owner_row.items() if k == row_node.key or row_node.kind == "total"]
        final = sum((v for (o, _), v in won_by_week.items() if o in members), ZERO)
        points = []
        for snap in snapshots:
            closed = sum(
                (v for (o, w), v in won_by_week.items() if o in members and w < snap.week_start),
                ZERO,
            )
            commit = sum((open_by[(snap.pk, o)][0] for o in members), ZERO)
            best = sum((open_by[(snap.pk, o)][1] for o in members), ZERO)
            points.append(
                WeekPoint(snap.week_start, closed, closed + commit, closed + commit + best)
            )
        out.append(AccuracyRow(row_node, final, points))
    return out


def _owner_rows(rollup: Rollup, owner_ids: set[int]) -> dict[int, tuple[str, int | None]]:
    """Which row of the rollup each owner belongs to (one query for the owners' teams)."""
    paths = dict(User.objects.filter(pk__in=owner_ids).values_list("pk", "team__path"))
    team_rows = {r.node.path: r.node.key for r in rollup.rows if r.node.kind == "team"}
    user_rows = {r.node.id: r.node.key for r in rollup.rows if r.node.kind == "user"}
    depth = 0 if rollup.node.kind == "org" else len(rollup.node.path)
    out = {}
    for owner_id in owner_ids:
        if owner_id in user_rows:
            out[owner_id] = user_rows[owner_id]
            continue
        path = paths.get(owner_id) or ""
        key = team_rows.get(path[: depth + SEGMENT])
        if key:
            out[owner_id] = key
    return out


def week_label(day: date) -> str:
    return f"{day:%d %b}"


def quarter_chart(rollup: Rollup, trend: list[AccuracyRow]) -> dict[str, Any]:
    """Data for the two charts (passed to the page with json_script)."""
    total = rollup.total
    total_trend = trend[-1] if trend else None
    return {
        "bars": {
            "labels": [r.node.name for r in rollup.rows] + ["Total"],
            "closed": [float(r.figures.closed_won) for r in rollup.rows]
            + [float(total.closed_won)],
            "commit": [float(r.figures.commit) for r in rollup.rows] + [float(total.commit)],
            "best_case": [float(r.figures.best_case) for r in rollup.rows]
            + [float(total.best_case)],
            "pipeline": [float(r.figures.pipeline) for r in rollup.rows] + [float(total.pipeline)],
            "quota": [float(r.figures.quota) for r in rollup.rows] + [float(total.quota)],
        },
        "trend": {
            "labels": [week_label(p.week) for p in total_trend.weeks] if total_trend else [],
            "closed": [float(p.closed_won) for p in total_trend.weeks] if total_trend else [],
            "commit_forecast": [float(p.commit_forecast) for p in total_trend.weeks]
            if total_trend
            else [],
            "best_case_forecast": [float(p.best_case_forecast) for p in total_trend.weeks]
            if total_trend
            else [],
            "final": float(total_trend.final) if total_trend else 0,
            "quota": float(total.quota),
        },
    }
