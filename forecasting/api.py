"""Forecast API: the rollup as JSON and the pipeline-size calculator."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.http import AuthenticatedRequest
from crm.permissions import Role, has_role
from forecasting import metrics, selectors
from forecasting.periods import current_quarter, fiscal_start_month, parse_period

TOKEN_SCOPES = {"read": "opportunities:read"}  # read:all also passes (ApiToken.allows)


def _figures_serializer(name: str) -> serializers.Serializer:
    fields: dict[str, serializers.Field] = {
        f: serializers.FloatField(allow_null=True)
        if f in ("attainment", "coverage")
        else serializers.DecimalField(max_digits=16, decimal_places=2)
        for f in selectors.FIGURES
    }
    return inline_serializer(name, fields)


NODE = inline_serializer(
    "ForecastNode",
    {"type": serializers.CharField(), "id": serializers.IntegerField(allow_null=True),
     "name": serializers.CharField()},
)  # fmt: skip


class ForecastView(APIView):
    """GET /api/v1/forecast/?period=2026-Q4&team=<id>: the rollup the /forecast/ page shows."""

    token_scopes = TOKEN_SCOPES

    @extend_schema(
        parameters=[
            OpenApiParameter("period", str, description="Fiscal quarter, e.g. 2026-Q4."),
            OpenApiParameter("team", int, description="A team in your subtree (default: yours)."),
        ],
        responses=inline_serializer(
            "ForecastRollup",
            {
                "period": serializers.CharField(),
                "node": NODE,
                "rows": serializers.ListField(child=serializers.DictField()),
                "total": _figures_serializer("ForecastFigures"),
            },
        ),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        user = request.user
        start_month = fiscal_start_month()
        errors: dict[str, str] = {}
        raw_period = request.query_params.get("period")
        period = None
        if raw_period is None:
            period = current_quarter(start_month)
        else:
            try:
                period = parse_period(raw_period, start_month, allow_month=False)
            except ValidationError as exc:
                errors.update({k: v[0] for k, v in exc.message_dict.items()})
        raw_team = request.query_params.get("team")
        team_id = None
        if raw_team is not None:  # sent empty is an error too, as with every API filter
            try:
                team_id = int(raw_team)
                if team_id < 1:
                    raise ValueError
            except ValueError:
                errors["team"] = f"'{raw_team}' is not a team id (a positive whole number)."
        if errors:
            raise ApiValidationError(errors)
        if not has_role(user, Role.REP, Role.MANAGER):
            raise NotFound("The forecast is for sales.")
        try:
            node = selectors.resolve_node(user, team_id=team_id)
        except Http404 as exc:
            raise NotFound("No such team in your part of the organisation.") from exc
        assert period is not None  # a period that did not parse raised above
        rollup = selectors.forecast_rollup(
            viewer=user, period=period, node=node, with_changes=False
        )
        return Response(rollup.as_dict())


class PipelineSizeView(APIView):
    """GET /api/v1/metrics/pipeline-size/: deals, leads and leads per rep for a target."""

    token_scopes = TOKEN_SCOPES

    @extend_schema(
        parameters=[
            OpenApiParameter("target_revenue", str, required=True),
            OpenApiParameter("avg_deal_size", str, description="Default: measured this quarter."),
            OpenApiParameter("close_rate", str, description="0.8 or 80; default: measured."),
            OpenApiParameter("reps", int, description="Default 1."),
        ],
        responses=inline_serializer(
            "PipelineSize",
            {
                "target_revenue": serializers.CharField(),
                "avg_deal_size": serializers.CharField(),
                "close_rate": serializers.FloatField(),
                "reps": serializers.IntegerField(),
                "deals_needed": serializers.IntegerField(),
                "leads_needed": serializers.IntegerField(),
                "leads_per_rep": serializers.IntegerField(),
            },
        ),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        user = request.user
        params = request.query_params
        needs_measure = not params.get("avg_deal_size") or not params.get("close_rate")
        measured = (
            metrics.measured_basics(
                user, metrics.ReportFilters(period=current_quarter(fiscal_start_month()))
            )
            if needs_measure
            else {"avg_deal_size": None, "close_rate": None}
        )
        result = metrics.pipeline_size(
            target_revenue=params.get("target_revenue"),
            avg_deal_size=params.get("avg_deal_size"),
            close_rate=params.get("close_rate"),
            reps=params.get("reps"),
            measured_avg_deal_size=measured["avg_deal_size"],
            measured_close_rate=measured["close_rate"],
        )  # ValidationError → 400 with field errors (crm.api.errors)
        return Response(result.as_dict())
