"""Pipeline metrics for /reports/: the four Vs, lead funnel, win rates, cycle, time in stage,
lost reasons, speed-to-lead, pipeline velocity, the pipeline-size calculator and the
activity report.

Every function starts from the viewer's scoped querysets and runs a fixed number of
queries; medians are taken in Python over value lists (portable between PostgreSQL and
SQLite).
"""

from __future__ import annotations

import calendar
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from activities.models import Activity
from crm.models import OrgSettings, User, users_visible_to
from forecasting.periods import Period
from leads.models import Lead
from pipeline.models import Opportunity, Pipeline, Stage, StageChange
from pipeline.selectors import default_pipeline

DAY = 86400


@dataclass(frozen=True)
class ReportFilters:
    """What the reports page is narrowed to (all optional except the period)."""

    period: Period
    pipeline_id: int | None = None
    owner_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None


def _money(value: Decimal | float | None) -> Decimal:
    """Sums come back without their scale on SQLite: normalise to cents."""
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _ratio(num: float | Decimal, den: float | Decimal) -> float | None:
    return round(float(num) / float(den), 4) if den else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def deals(viewer: User, filters: ReportFilters) -> QuerySet[Opportunity]:
    """The viewer's deals (the qualified pipeline: every opportunity is SQL or beyond)."""
    qs = Opportunity.objects.visible_to(viewer)
    if filters.pipeline_id:
        qs = qs.filter(pipeline_id=filters.pipeline_id)
    if filters.owner_id:
        qs = qs.filter(owner_id=filters.owner_id)
    return qs


class ClosedDeal(TypedDict):
    """One deal closed in the period, as `closed_deals` reads it."""

    amount: Decimal
    deal_type: str
    created_at: datetime
    closed_at: datetime | None  # never None here: the query filters on it
    stage__kind: str


def closed_deals(viewer: User, filters: ReportFilters) -> list[ClosedDeal]:
    """Won and lost deals closed in the period (one query)."""
    p = filters.period
    return list(
        deals(viewer, filters)
        .filter(
            stage__kind__in=[Stage.Kind.WON, Stage.Kind.LOST],
            closed_at__gte=p.start_at,
            closed_at__lt=p.end_at,
        )
        .values("amount", "deal_type", "created_at", "closed_at", "stage__kind")
    )


def win_rates(closed: list[ClosedDeal]) -> dict[str, Any]:
    """Won ÷ (won + lost) among deals closed in the period, overall and per deal type."""
    out: dict[str, Any] = {}
    for key, rows in (
        ("overall", closed),
        ("new_business", [r for r in closed if r["deal_type"] == "new_business"]),
        ("expansion", [r for r in closed if r["deal_type"] == "expansion"]),
    ):
        won = sum(1 for r in rows if r["stage__kind"] == Stage.Kind.WON)
        out[key] = {"won": won, "closed": len(rows), "rate": _ratio(won, len(rows))}
    return out


def deal_size_and_cycle(closed: list[ClosedDeal]) -> dict[str, Any]:
    """Average won amount and cycle length (created → closed, days) of won deals."""
    won = [r for r in closed if r["stage__kind"] == Stage.Kind.WON]
    amounts = [r["amount"] for r in won]
    # A deal imported with an earlier close than its creation counts as a zero-day cycle.
    cycles = [
        max(0.0, (closed_at - r["created_at"]).total_seconds() / DAY)
        for r in won
        if (closed_at := r["closed_at"]) is not None
    ]
    avg = (sum(amounts, Decimal(0)) / len(amounts)).quantize(Decimal("0.01")) if amounts else None
    return {
        "won_count": len(won),
        "won_amount": _money(sum(amounts, Decimal(0))),
        "avg_deal_size": avg,
        "avg_cycle_days": _mean(cycles),
        "median_cycle_days": _median(cycles),
    }


def report_pipeline(viewer: User, filters: ReportFilters) -> Pipeline | None:
    """The pipeline whose stages the velocity and conversion tables use (default: the
    default pipeline)."""
    if filters.pipeline_id:
        return Pipeline.objects.filter(pk=filters.pipeline_id).first()
    return default_pipeline()


def time_in_stage(
    viewer: User, filters: ReportFilters, stages: list[Stage]
) -> list[dict[str, Any]]:
    """Median and mean days spent in each stage, from the stage moves in the period; the
    stage with the longest median is flagged as the bottleneck."""
    p = filters.period
    scoped = deals(viewer, filters).values("pk")
    rows = StageChange.objects.filter(
        opportunity__in=scoped,
        from_stage__in=[s.pk for s in stages],
        changed_at__gte=p.start_at,
        changed_at__lt=p.end_at,
        seconds_in_from_stage__isnull=False,
    ).values_list("from_stage_id", "seconds_in_from_stage")
    per_stage: dict[int, list[float]] = defaultdict(list)
    for stage_id, seconds in rows:
        if seconds is not None:  # the query excludes them; the column allows them
            per_stage[stage_id].append(seconds / DAY)
    out: list[dict[str, Any]] = [
        {
            "stage": s,
            "moves": len(per_stage[s.pk]),
            "median_days": _median(per_stage[s.pk]),
            "mean_days": _mean(per_stage[s.pk]),
            "is_bottleneck": False,
        }
        for s in stages
        if s.kind == Stage.Kind.OPEN
    ]
    timed = [r for r in out if r["median_days"] is not None]
    if timed:
        max(timed, key=lambda r: r["median_days"])["is_bottleneck"] = True
    return out


def stage_conversion(
    viewer: User, filters: ReportFilters, stages: list[Stage]
) -> list[dict[str, Any]]:
    """Of the deals created in the period, how many reached each stage (entered it or a later
    non-lost one), and the conversion from the previous stage."""
    p = filters.period
    if not stages:
        return []
    pipeline_id = stages[0].pipeline_id
    created = deals(viewer, filters).filter(
        pipeline_id=pipeline_id, created_at__gte=p.start_at, created_at__lt=p.end_at
    )
    lost = Q(to_stage__kind=Stage.Kind.LOST)
    # Furthest non-lost stage reached per deal: its history, or its current stage.
    history = dict(
        StageChange.objects.filter(opportunity__in=created.values("pk"))
        .exclude(lost)
        .order_by()
        .values("opportunity_id")
        .annotate(furthest=Max("to_stage__order"))
        .values_list("opportunity_id", "furthest")
    )
    current = created.exclude(stage__kind=Stage.Kind.LOST).values_list("pk", "stage__order")
    furthest: dict[int, int] = dict(history)
    for pk, order in current:
        furthest[pk] = max(order, furthest.get(pk, -1))
    steps = [s for s in stages if s.kind != Stage.Kind.LOST]
    out, previous = [], None
    for stage in steps:
        count = sum(1 for order in furthest.values() if order >= stage.order)
        out.append(
            {
                "stage": stage,
                "reached": count,
                "conversion": _ratio(count, previous) if previous is not None else None,
            }
        )
        previous = count
    return out


def four_vs(
    viewer: User, filters: ReportFilters, stages: list[Stage], cycle: dict[str, Any]
) -> dict[str, Any]:
    """Volume and value of the open qualified pipeline, velocity, conversion."""
    totals = (
        deals(viewer, filters)
        .filter(stage__kind=Stage.Kind.OPEN)
        .aggregate(volume=Count("pk"), value=Sum("amount"))
    )
    in_stage = time_in_stage(viewer, filters, stages)
    return {
        "volume": totals["volume"],
        "value": _money(totals["value"]),
        "velocity": in_stage,
        "cycle_days": cycle["median_cycle_days"],
        "conversion": stage_conversion(viewer, filters, stages),
    }


FUNNEL_STEPS = ("total", "mql", "srl", "sql", "won")


def _funnel_counts() -> dict[str, Any]:
    won = Opportunity.objects.filter(lead_id=OuterRef("pk"), stage__kind=Stage.Kind.WON)
    return {
        "total": Count("pk"),
        "mql": Count("pk", filter=Q(mql_at__isnull=False)),
        "srl": Count("pk", filter=Q(srl_at__isnull=False)),
        "sql": Count("pk", filter=Q(sql_at__isnull=False)),
        "won": Count("pk", filter=Q(Exists(won))),
    }


def _funnel_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: row[k] for k in FUNNEL_STEPS},
        "mql_rate": _ratio(row["mql"], row["total"]),
        "mql_to_srl": _ratio(row["srl"], row["mql"]),
        "srl_to_sql": _ratio(row["sql"], row["srl"]),
        "sql_to_won": _ratio(row["won"], row["sql"]),
    }


def lead_funnel(viewer: User, filters: ReportFilters) -> dict[str, Any]:
    """Leads created in the period: new → MQL → SRL → SQL → won, per month and per source."""
    p = filters.period
    leads = Lead.objects.visible_to(viewer).filter(
        created_at__gte=p.start_at, created_at__lt=p.end_at
    )
    if filters.owner_id:
        leads = leads.filter(owner_id=filters.owner_id)
    by_source = [
        {
            "source": Lead.Source(r["source"]).label
            if r["source"] in Lead.Source.values
            else r["source"],
            **_funnel_row(r),
        }
        for r in leads.order_by().values("source").annotate(**_funnel_counts()).order_by("source")
    ]
    by_month = [
        {"month": r["month"], **_funnel_row(r)}
        for r in leads.order_by()
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(**_funnel_counts())
        .order_by("month")
    ]
    total = {k: sum(r[k] for r in by_source) for k in FUNNEL_STEPS}
    return {"by_source": by_source, "by_month": by_month, "total": _funnel_row(total)}


def lost_reasons(viewer: User, filters: ReportFilters) -> list[dict[str, Any]]:
    """Deals lost in the period per reason: count and amount, most frequent first."""
    p = filters.period
    rows = (
        deals(viewer, filters)
        .filter(stage__kind=Stage.Kind.LOST, closed_at__gte=p.start_at, closed_at__lt=p.end_at)
        .order_by()
        .values("lost_reason__label")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by("-count", "lost_reason__label")
    )
    return [
        {
            "reason": r["lost_reason__label"] or "(no reason)",
            "count": r["count"],
            "amount": _money(r["amount"]),
        }
        for r in rows
    ]


def speed_to_lead(viewer: User, filters: ReportFilters) -> dict[str, Any]:
    """Minutes from assignment to first contact for leads assigned in the period."""
    p = filters.period
    leads = Lead.objects.visible_to(viewer).filter(
        assigned_at__gte=p.start_at, assigned_at__lt=p.end_at
    )
    if filters.owner_id:
        leads = leads.filter(owner_id=filters.owner_id)
    rows = list(leads.values_list("assigned_at", "first_contacted_at"))
    minutes = [
        max(0.0, (contacted - assigned).total_seconds() / 60)
        for assigned, contacted in rows
        if contacted is not None and assigned is not None  # the period filter needs `assigned`
    ]
    sla = OrgSettings.load().first_contact_sla_minutes
    return {
        "assigned": len(rows),
        "contacted": len(minutes),
        "not_contacted": len(rows) - len(minutes),
        "median_minutes": _median(minutes),
        "mean_minutes": _mean(minutes),
        "sla_minutes": sla,
        "within_sla": _ratio(sum(1 for m in minutes if m <= sla), len(minutes)),
    }


def pipeline_velocity(
    *, opportunities: int, win_rate: float | None, avg_deal_size: Decimal | None,
    cycle_days: float | None, today: date | None = None,
) -> dict[str, Any]:  # fmt: skip
    """(qualified opportunities × win rate × average deal size) ÷ cycle length in days."""
    today = today or timezone.localdate()
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    if not win_rate or not avg_deal_size or not cycle_days:
        return {"per_day": None, "month_projection": None, "days_in_month": days_in_month}
    per_day = (
        Decimal(opportunities) * Decimal(str(win_rate)) * avg_deal_size / Decimal(str(cycle_days))
    )
    return {
        "per_day": per_day.quantize(Decimal("0.01")),
        "month_projection": (per_day * days_in_month).quantize(Decimal("0.01")),
        "days_in_month": days_in_month,
    }


@dataclass
class PipelineSize:
    target_revenue: Decimal
    avg_deal_size: Decimal
    close_rate: Decimal  # a fraction, 0 < r ≤ 1
    reps: int
    deals_needed: int
    leads_needed: int
    leads_per_rep: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_revenue": str(self.target_revenue),
            "avg_deal_size": str(self.avg_deal_size),
            "close_rate": float(self.close_rate),
            "reps": self.reps,
            "deals_needed": self.deals_needed,
            "leads_needed": self.leads_needed,
            "leads_per_rep": self.leads_per_rep,
        }


def _decimal(raw: object, field: str, errors: dict[str, str]) -> Decimal | None:
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        errors[field] = f"'{raw}' is not a number."
        return None
    if not value.is_finite() or value <= 0:
        errors[field] = "Must be greater than 0."
        return None
    return value


def pipeline_size(
    *,
    target_revenue: object,
    avg_deal_size: object = None,
    close_rate: object = None,
    reps: object = None,
    measured_avg_deal_size: Decimal | None = None,
    measured_close_rate: float | None = None,
) -> PipelineSize:
    """Target ÷ average deal size = deals; ÷ close rate = leads; ÷ reps = leads each (each
    rounded up). `close_rate` is a fraction (0.8) or a percentage (80). Missing average deal
    size and close rate default to the measured values. ValidationError with field errors."""
    errors: dict[str, str] = {}
    target = _decimal(target_revenue, "target_revenue", errors)
    if target is None and "target_revenue" not in errors:
        errors["target_revenue"] = "Required."
    avg = _decimal(avg_deal_size, "avg_deal_size", errors)
    if avg is None and "avg_deal_size" not in errors:
        if measured_avg_deal_size:
            avg = Decimal(measured_avg_deal_size)
        else:
            errors["avg_deal_size"] = "Required: no won deals to measure it from."
    rate = _decimal(close_rate, "close_rate", errors)
    if rate is not None and rate > 1:
        rate = rate / 100 if rate <= 100 else None
        if rate is None:
            errors["close_rate"] = "Give a fraction (0.8) or a percentage up to 100."
    if rate is None and "close_rate" not in errors:
        if measured_close_rate:
            rate = Decimal(str(measured_close_rate))
        else:
            errors["close_rate"] = "Required: no closed deals to measure it from."
    rep_count = 1
    if reps is not None and str(reps).strip() != "":
        try:
            rep_count = int(str(reps).strip())
            if rep_count < 1:
                raise ValueError
        except ValueError:
            errors["reps"] = "A whole number of at least 1."
    if errors or target is None or avg is None or rate is None:
        raise ValidationError(errors)
    deals_needed = math.ceil(target / avg)
    leads_needed = math.ceil(Decimal(deals_needed) / rate)
    return PipelineSize(
        target.quantize(Decimal("0.01")),
        avg.quantize(Decimal("0.01")),
        rate,
        rep_count,
        deals_needed,
        leads_needed,
        math.ceil(leads_needed / rep_count),
    )


def measured_basics(viewer: User, filters: ReportFilters) -> dict[str, Any]:
    """Average deal size and win rate measured over the period (for the calculator)."""
    closed = closed_deals(viewer, filters)
    size = deal_size_and_cycle(closed)
    rates = win_rates(closed)
    return {"avg_deal_size": size["avg_deal_size"], "close_rate": rates["overall"]["rate"]}


ACTIVITY_KINDS = (
    Activity.Kind.CALL,
    Activity.Kind.EMAIL,
    Activity.Kind.MEETING,
    Activity.Kind.TASK,
)


def activity_report(viewer: User, filters: ReportFilters) -> list[dict[str, Any]]:
    """Per owner and kind: done, open, overdue (one grouped query)."""
    now = timezone.now()
    qs = Activity.objects.visible_to(viewer).filter(kind__in=ACTIVITY_KINDS)
    if filters.pipeline_id:
        qs = qs.filter(opportunity__pipeline_id=filters.pipeline_id)
    if filters.owner_id:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.created_from:
        qs = qs.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        qs = qs.filter(created_at__date__lte=filters.created_to)
    rows = (
        qs.order_by()
        .values("owner_id", "owner__username", "owner__first_name", "owner__last_name", "kind")
        .annotate(
            done=Count("pk", filter=Q(done_at__isnull=False)),
            open=Count("pk", filter=Q(done_at__isnull=True)),
            overdue=Count("pk", filter=Q(done_at__isnull=True, due_at__lt=now)),
        )
    )
    per_owner: dict[int, dict[str, Any]] = {}
    for r in rows:
        name = f"{r['owner__first_name']} {r['owner__last_name']}".strip() or r["owner__username"]
        entry = per_owner.setdefault(
            r["owner_id"],
            {"owner": name, **{k: {"done": 0, "open": 0, "overdue": 0} for k in ACTIVITY_KINDS}},
        )
        entry[r["kind"]] = {"done": r["done"], "open": r["open"], "overdue": r["overdue"]}
    return sorted(per_owner.values(), key=lambda e: e["owner"])


def pipeline_report(viewer: User, filters: ReportFilters) -> dict[str, Any]:
    """Everything /reports/ shows, in a fixed number of queries."""
    pipeline = report_pipeline(viewer, filters)
    stages = list(pipeline.stages.order_by("order", "pk")) if pipeline else []
    closed = closed_deals(viewer, filters)
    size = deal_size_and_cycle(closed)
    rates = win_rates(closed)
    vs = four_vs(viewer, filters, stages, size)
    velocity = pipeline_velocity(
        opportunities=vs["volume"],
        win_rate=rates["overall"]["rate"],
        avg_deal_size=size["avg_deal_size"],
        cycle_days=size["avg_cycle_days"],
    )
    return {
        "pipeline": pipeline,
        "four_vs": vs,
        "funnel": lead_funnel(viewer, filters),
        "win_rates": rates,
        "size": size,
        "lost_reasons": lost_reasons(viewer, filters),
        "speed_to_lead": speed_to_lead(viewer, filters),
        "velocity": velocity,
        "activity": activity_report(viewer, filters),
    }


def filter_choices(viewer: User) -> dict[str, Any]:
    """Options for the report filters: active pipelines and the people the viewer can see."""
    return {
        "pipelines": list(Pipeline.objects.filter(is_archived=False).values_list("pk", "name")),
        "owners": [(u.pk, str(u)) for u in users_visible_to(viewer).exclude(role="marketing")],
    }
