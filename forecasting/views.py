"""Forecast and reports pages (FBVs + htmx). Parse → selector or service → render."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRefresh

from crm.csv_export import csv_response
from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import Team, User, users_visible_to
from crm.permissions import Role, has_role, is_admin, is_manager_or_admin
from forecasting import metrics, selectors, services
from forecasting.forms import (
    AdjustmentForm,
    ForecastFilterForm,
    PipelineSizeForm,
    QuotaCellForm,
    QuotaImportForm,
    ReportFilterForm,
)
from forecasting.models import Quota
from forecasting.periods import (
    Period,
    current_quarter,
    fiscal_start_month,
    parse_period,
    recent_quarters,
)


def _quarters(start_month: int) -> list[Period]:
    quarters = recent_quarters(start_month, 5)
    return [*quarters, quarters[-1].next(start_month)]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _rollup_csv(rollup: selectors.Rollup) -> HttpResponseBase:
    header = [
        "row", "type", *selectors.FIGURES, "adjusted_commit", "deals",
        "change_commit_forecast", "change_open_pipeline",
    ]  # fmt: skip

    def line(name: str, kind: str, fig: selectors.Figures) -> list[object]:
        return [
            name, kind, *fig.as_dict().values(), fig.adjusted_commit, fig.deal_count,
            fig.change_commit_forecast, fig.change_open_pipeline,
        ]  # fmt: skip

    rows = [line(r.node.name, r.node.kind, r.figures) for r in rollup.rows]
    rows.append(line("Total", rollup.node.kind, rollup.total))
    return csv_response(f"forecast-{rollup.period.label}.csv", header, rows)


@login_required
@vary_on_headers("HX-Request")
def forecast(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """The weekly rollup of a node for a quarter, its changes, trend/accuracy and charts."""
    user = request.user
    if not has_role(user, Role.REP, Role.MANAGER):
        raise Http404("The forecast is for sales.")
    start_month = fiscal_start_month()
    form = ForecastFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "forecasting/forecast.html", {"form": form}, status=400)
    period = form.cleaned_data["period"] or current_quarter(start_month)
    node = selectors.resolve_node(
        user, team_id=form.cleaned_data["team"], user_id=form.cleaned_data["user"]
    )
    export = request.GET.get("export", "")
    rollup = selectors.forecast_rollup(viewer=user, period=period, node=node)
    if export == "rollup":
        return _rollup_csv(rollup)
    deals = (
        list(selectors.node_deals(viewer=user, node=node, period=period))
        if node.kind == "user"
        else []
    )
    if export == "deals":
        return csv_response(
            f"deals-{period.label}.csv",
            ["deal", "owner", "stage", "category", "amount", "expected_close", "closed_at"],
            [
                [d.name, d.owner, d.stage, d.forecast_category, d.amount,
                 d.expected_close_date, d.closed_at]
                for d in deals
            ],
        )  # fmt: skip
    changes = selectors.what_changed(
        viewer=user, node=node, period=period, baseline=rollup.baseline
    )
    if export == "changes":
        return csv_response(
            f"changes-{period.label}.csv",
            ["change", "deal", "owner", "amount_before", "amount_now", "close_before", "close_now"],
            [
                [c.label, c.name, c.owner, c.before and c.before["amount"], c.after["amount"],
                 c.before and c.before["expected_close_date"], c.after["expected_close_date"]]
                for c in changes
            ],
        )  # fmt: skip
    trend = selectors.weekly_trend(viewer=user, node=node, period=period, rollup=rollup)
    if export == "accuracy":
        weeks = [p.week for p in trend[0].weeks] if trend else []
        return csv_response(
            f"accuracy-{period.label}.csv",
            ["row", *[f"week of {w}" for w in weeks], "final_closed_won", "accuracy"],
            [
                [r.node.name, *[p.commit_forecast for p in r.weeks], r.final, r.accuracy]
                for r in trend
            ],
        )
    context: dict[str, Any] = {
        "form": form,
        "period": period,
        "quarters": _quarters(start_month),
        "rollup": rollup,
        "deals": deals,
        "changes": changes,
        "trend": trend,
        "trend_weeks": [p.week for p in trend[0].weeks] if trend else [],
        "is_past": period.end <= current_quarter(start_month).start,
        "chart": selectors.quarter_chart(rollup, trend),
        "can_adjust": is_manager_or_admin(user),
        "query": request.GET.urlencode(),
        "node_param": _node_param(node),
    }
    return render(request, "forecasting/forecast.html", context)


def _node_param(node: selectors.Node) -> str:
    if node.kind == "team":
        return f"team={node.id}"
    if node.kind == "user":
        return f"user={node.id}"
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def adjust_commit(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the adjustment form for a row (htmx). POST: save; errors re-render with 422."""
    user = request.user
    if not is_manager_or_admin(user):
        raise Http404
    data = request.POST if request.method == "POST" else request.GET
    form = AdjustmentForm(data)
    if request.method == "GET" or not form.is_valid():
        status = 422 if request.method == "POST" else 200
        return render(request, "forecasting/_adjust_form.html", {"form": form}, status=status)
    subject_user, subject_team = _subject(user, form.cleaned_data)
    try:
        services.adjust_commit(
            by=user,
            period=form.cleaned_data["period"],
            amount=form.cleaned_data["amount"],
            note=form.cleaned_data["note"],
            user=subject_user,
            team=subject_team,
        )
    except ValidationError as exc:
        add_validation_error(form, exc)
        return render(request, "forecasting/_adjust_form.html", {"form": form}, status=422)
    messages.success(request, "Commit adjustment saved.")
    return HttpResponseClientRefresh()


def _subject(viewer: User, data: dict[str, Any]) -> tuple[User | None, Team | None]:
    """The person or team a form names, if the viewer can see it (else 404)."""
    if data.get("user"):
        person = users_visible_to(viewer).filter(pk=data["user"]).first()
        if person is None:
            raise Http404
        return person, None
    if data.get("team"):
        team = selectors.visible_teams(viewer).filter(pk=data["team"]).first()
        if team is None:
            raise Http404
        return None, team
    raise Http404


def _quota_grid(viewer: User, period: Period) -> dict[str, Any]:
    """Rows for the quota editor: the viewer's teams (own or summed quota) and people."""
    teams = list(selectors.visible_teams(viewer).order_by("path"))
    people = [
        p
        for p in users_visible_to(viewer).select_related("team")
        if p.role in (User.Role.REP, User.Role.MANAGER)
    ]
    quotas = Quota.objects.filter(period=period.label).filter(
        user__in=[p.pk for p in people]
    ) | Quota.objects.filter(period=period.label, team__in=[t.pk for t in teams])
    own_user = {q.user_id: q.amount for q in quotas if q.user_id}
    own_team = {q.team_id: q.amount for q in quotas if q.team_id}
    effective: dict[int, Decimal] = {}
    sums: dict[int, Decimal] = {t.pk: Decimal(0) for t in teams}
    for p in people:
        if p.team_id in sums:
            sums[p.team_id] += own_user.get(p.pk, Decimal(0))
    for team in sorted(teams, key=lambda t: -t.depth):
        effective[team.pk] = own_team.get(team.pk, sums[team.pk])
        if team.parent_id in sums:
            sums[team.parent_id] += effective[team.pk]
    rows = []
    for team in teams:
        rows.append(
            {"kind": "team", "obj": team, "indent": team.depth, "own": own_team.get(team.pk),
             "effective": effective[team.pk]}
        )  # fmt: skip
        for p in people:
            if p.team_id == team.pk:
                rows.append(
                    {"kind": "user", "obj": p, "indent": team.depth + 1,
                     "own": own_user.get(p.pk), "effective": own_user.get(p.pk, Decimal(0))}
                )  # fmt: skip
    if not teams:
        rows = [
            {"kind": "user", "obj": p, "indent": 0, "own": own_user.get(p.pk),
             "effective": own_user.get(p.pk, Decimal(0))}
            for p in people
        ]  # fmt: skip
    return {"rows": rows}


@login_required
@vary_on_headers("HX-Request")
def quotas(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """The quota grid for a quarter (managers: their subtree; admins: everyone)."""
    user = request.user
    if not is_manager_or_admin(user):
        raise Http404
    start_month = fiscal_start_month()
    form = ForecastFilterForm(request.GET)
    period = (form.is_valid() and form.cleaned_data["period"]) or current_quarter(start_month)
    grid = _quota_grid(user, period)
    if request.GET.get("export") == "csv":
        return csv_response(
            f"quotas-{period.label}.csv",
            ["period", "username", "team", "amount"],
            [
                [period.label, r["obj"].username if r["kind"] == "user" else "",
                 r["obj"].name if r["kind"] == "team" else "", r["own"] or ""]
                for r in grid["rows"]
            ],
        )  # fmt: skip
    context = {
        "period": period,
        "quarters": _quarters(start_month),
        "import_form": QuotaImportForm(),
        "fiscal_start_month": start_month,
        "months": [(m, date(2000, m, 1).strftime("%B")) for m in range(1, 13)],
        **grid,
    }
    return render(request, "forecasting/quotas.html", context)


@login_required
@require_POST
def quota_cell(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Save one quota cell (htmx); re-render the grid body so team sums update."""
    user = request.user
    if not is_manager_or_admin(user):
        raise Http404
    form = QuotaCellForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Invalid quota cell.", status=400)
    subject_user, subject_team = _subject(user, form.cleaned_data)
    start_month = fiscal_start_month()
    error = ""
    try:
        services.set_quota(
            by=user,
            period=form.cleaned_data["period"],
            amount=form.cleaned_data["amount"],
            user=subject_user,
            team=subject_team,
        )
    except ValidationError as exc:
        error = "; ".join(exc.messages)
    try:
        period = parse_period(form.cleaned_data["period"], start_month, allow_month=False)
    except ValidationError:
        return HttpResponse("Invalid period.", status=400)
    context = {"period": period, "error": error, **_quota_grid(user, period)}
    return render(request, "forecasting/_quota_grid.html", context, status=422 if error else 200)


@login_required
@require_POST
def import_quotas(request: AuthenticatedHttpRequest) -> HttpResponse:
    """CSV import of quotas: all rows or none, every error listed."""
    user = request.user
    if not is_manager_or_admin(user):
        raise Http404
    form = QuotaImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = services.import_quotas(by=user, data=form.cleaned_data["file"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if result.errors:
                messages.error(request, "Nothing imported: " + " ".join(result.errors[:20]))
            else:
                messages.success(
                    request, f"Quotas imported: {result.created} new, {result.updated} updated."
                )
    else:
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    period = request.POST.get("period", "")
    return redirect(reverse("forecasting:quotas") + (f"?period={quote(period)}" if period else ""))


@login_required
@require_POST
def fiscal_year(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Admins set the fiscal year's first month."""
    user = request.user
    if not is_admin(user):
        raise Http404
    try:
        month = services.set_fiscal_year_start(by=user, month=request.POST.get("month", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The fiscal year now starts in month {month}.")
    return redirect("forecasting:quotas")


# --- reports ------------------------------------------------------------------------------


def _report_filters(
    request: AuthenticatedHttpRequest, form: ReportFilterForm
) -> metrics.ReportFilters:
    data = form.cleaned_data
    return metrics.ReportFilters(
        period=data["period"] or current_quarter(fiscal_start_month()),
        pipeline_id=data["pipeline"],
        owner_id=data["owner"],
        created_from=data["created_from"],
        created_to=data["created_to"],
    )


REPORT_EXPORTS = ("funnel", "win_rates", "time_in_stage", "conversion", "lost_reasons", "activity")


def _report_csv(name: str, report: dict[str, Any], label: str) -> HttpResponseBase:
    if name == "funnel":
        header = ["source", "leads", "mql", "srl", "sql", "won", "mql_to_srl", "srl_to_sql"]
        rows = [
            [r["source"], r["total"], r["mql"], r["srl"], r["sql"], r["won"],
             _pct(r["mql_to_srl"]), _pct(r["srl_to_sql"])]
            for r in report["funnel"]["by_source"]
        ]  # fmt: skip
    elif name == "win_rates":
        header = ["deal_type", "won", "closed", "win_rate"]
        rows = [[k, v["won"], v["closed"], _pct(v["rate"])] for k, v in report["win_rates"].items()]
    elif name == "time_in_stage":
        header = ["stage", "moves", "median_days", "mean_days", "bottleneck"]
        rows = [
            [r["stage"].name, r["moves"], r["median_days"], r["mean_days"], r["is_bottleneck"]]
            for r in report["four_vs"]["velocity"]
        ]
    elif name == "conversion":
        header = ["stage", "reached", "conversion"]
        rows = [
            [r["stage"].name, r["reached"], _pct(r["conversion"])]
            for r in report["four_vs"]["conversion"]
        ]
    elif name == "lost_reasons":
        header = ["reason", "count", "amount"]
        rows = [[r["reason"], r["count"], r["amount"]] for r in report["lost_reasons"]]
    else:
        header = ["owner"] + [
            f"{kind}_{state}"
            for kind in metrics.ACTIVITY_KINDS
            for state in ("done", "open", "overdue")
        ]
        rows = [
            [r["owner"]]
            + [
                r[kind][state]
                for kind in metrics.ACTIVITY_KINDS
                for state in ("done", "open", "overdue")
            ]
            for r in report["activity"]
        ]
    return csv_response(f"{name}-{label}.csv", header, rows)


@login_required
def reports(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """Pipeline metrics for the viewer's scope."""
    user = request.user
    form = ReportFilterForm(request.GET)
    if not form.is_valid():
        context = {"form": form, **metrics.filter_choices(user)}
        return render(request, "forecasting/reports.html", context, status=400)
    filters = _report_filters(request, form)
    report = metrics.pipeline_report(user, filters)
    export = request.GET.get("export", "")
    if export in REPORT_EXPORTS:
        return _report_csv(export, report, filters.period.label)
    start_month = fiscal_start_month()
    context = {
        "form": form,
        "filters": filters,
        "report": report,
        "quarters": _quarters(start_month),
        "query": request.GET.urlencode(),
        "chart": {
            "stages": [r["stage"].name for r in report["four_vs"]["velocity"]],
            "median_days": [r["median_days"] or 0 for r in report["four_vs"]["velocity"]],
        },
        **metrics.filter_choices(user),
    }
    return render(request, "forecasting/reports.html", context)


@login_required
def pipeline_size(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The pipeline-size calculator, next to the measured numbers."""
    user = request.user
    filters = metrics.ReportFilters(period=current_quarter(fiscal_start_month()))
    measured = metrics.measured_basics(user, filters)
    form = PipelineSizeForm(request.GET or None)
    result, errors, status = None, {}, 200
    if form.is_bound and form.is_valid():
        try:
            result = metrics.pipeline_size(
                **form.cleaned_data,
                measured_avg_deal_size=measured["avg_deal_size"],
                measured_close_rate=measured["close_rate"],
            )
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
    actual = {
        "open_deals": metrics.deals(user, filters).filter(stage__kind="open").count(),
        "reps": users_visible_to(user).filter(role=User.Role.REP).count(),
    }
    context = {
        "form": form,
        "result": result,
        "errors": errors,
        "measured": measured,
        "actual": actual,
        "period": filters.period,
    }
    return render(request, "forecasting/pipeline_size.html", context, status=status)
