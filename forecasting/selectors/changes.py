"""Week over week: classify what happened to each deal since last week's snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q

from crm.models import User
from forecasting.models import ForecastSnapshot, SnapshotLine
from forecasting.periods import Period
from forecasting.selectors.rollup import LOST, OPEN, WON, Node, baseline_snapshot, scoped_deals

# --- week over week -----------------------------------------------------------------------

CHANGE_LABELS = {
    "new": "New",
    "won": "Won",
    "lost": "Lost",
    "pushed": "Pushed out of the quarter",
    "pulled_in": "Pulled in",
    "amount_up": "Amount up",
    "amount_down": "Amount down",
    "category": "Category changed",
}


def classify_change(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, period: Period
) -> list[str]:
    """What happened to one deal between the baseline snapshot and now (pure function).

    `before` is the snapshot line (open deals only), `after` the deal now, each a dict with
    kind, amount, forecast_category, expected_close_date; either may be None.
    """
    if after is None:
        return []
    if before is None:
        if after["kind"] == OPEN and period.contains(after["expected_close_date"]):
            return ["new"]
        return ["won"] if after["kind"] == WON else []
    was_in = period.contains(before["expected_close_date"])
    if after["kind"] == WON:
        return ["won"]
    if after["kind"] == LOST:
        return ["lost"] if was_in else []
    is_in = period.contains(after["expected_close_date"])
    if was_in and not is_in:
        return ["pushed"]
    if is_in and not was_in:
        return ["pulled_in"]
    if not is_in:
        return []
    kinds = []
    if after["amount"] > before["amount"]:
        kinds.append("amount_up")
    elif after["amount"] < before["amount"]:
        kinds.append("amount_down")
    if after["forecast_category"] != before["forecast_category"]:
        kinds.append("category")
    return kinds


@dataclass
class Change:
    kind: str
    opportunity_id: int
    name: str
    owner: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any]

    @property
    def label(self) -> str:
        return CHANGE_LABELS[self.kind]


def what_changed(
    *, viewer: User, node: Node, period: Period, baseline: ForecastSnapshot | None = None
) -> list[Change]:
    """Deals that changed since last week's snapshot, classified (two queries)."""
    baseline = baseline or baseline_snapshot()
    if baseline is None:
        return []
    lines = SnapshotLine.objects.visible_to(viewer).filter(snapshot=baseline)
    if node.kind == "team":
        lines = lines.filter(owner__team__path__startswith=node.path)
    elif node.kind == "user":
        lines = lines.filter(owner_id=node.id)
    before = {
        line["opportunity_id"]: line
        for line in lines.values(
            "opportunity_id", "amount", "forecast_category", "expected_close_date"
        )
    }
    in_period = Q(
        stage__kind=OPEN,
        expected_close_date__gte=period.start,
        expected_close_date__lt=period.end,
    )
    won_since = Q(stage__kind=WON, closed_at__gte=max(baseline.taken_at, period.start_at))
    current = (
        scoped_deals(viewer, node)
        .filter(Q(pk__in=lines.values("opportunity_id")) | in_period | won_since)
        .values(
            "pk",
            "name",
            "owner__username",
            "owner__first_name",
            "owner__last_name",
            "amount",
            "forecast_category",
            "expected_close_date",
            "created_at",
            kind=F("stage__kind"),
        )
    )
    changes: list[Change] = []
    for deal in current:
        prior = before.get(deal["pk"])
        if prior is None and deal["created_at"] < baseline.taken_at and deal["kind"] == OPEN:
            continue  # existed last week but closed elsewhere then: not new this week
        owner = f"{deal['owner__first_name']} {deal['owner__last_name']}".strip()
        for kind in classify_change(prior, deal, period):
            changes.append(
                Change(
                    kind, deal["pk"], deal["name"], owner or deal["owner__username"], prior, deal
                )
            )
    order = list(CHANGE_LABELS)
    changes.sort(key=lambda c: (order.index(c.kind), -c.after["amount"], c.opportunity_id))
    return changes
