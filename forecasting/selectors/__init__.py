"""Forecast reads shared by the page, the API, CSV exports and the benchmark.

Everything starts from `Opportunity.objects.visible_to(viewer)` (or the snapshot lines' same
scope) and is set-based. The package is split by concern and re-exported here.
"""

from __future__ import annotations

from forecasting.selectors.changes import CHANGE_LABELS, Change, classify_change, what_changed
from forecasting.selectors.rollup import (
    CATEGORY_KEYS,
    FIGURES,
    Figures,
    Node,
    Rollup,
    Row,
    baseline_snapshot,
    breadcrumb,
    forecast_rollup,
    home_node,
    node_deals,
    per_owner_figures,
    resolve_node,
    scoped_deals,
    visible_teams,
)
from forecasting.selectors.trend import AccuracyRow, WeekPoint, quarter_chart, weekly_trend

__all__ = [
    "CATEGORY_KEYS",
    "CHANGE_LABELS",
    "FIGURES",
    "AccuracyRow",
    "Change",
    "Figures",
    "Node",
    "Rollup",
    "Row",
    "WeekPoint",
    "baseline_snapshot",
    "breadcrumb",
    "classify_change",
    "forecast_rollup",
    "home_node",
    "node_deals",
    "per_owner_figures",
    "quarter_chart",
    "resolve_node",
    "scoped_deals",
    "visible_teams",
    "weekly_trend",
    "what_changed",
]
