"""Pipelines and opportunities API: serializers check shape, services decide."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.mixins import (
    CreateModelMixin,
    ListModelMixin,
    RetrieveModelMixin,
    UpdateModelMixin,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from accounts.models import Account
from crm.http import AuthenticatedRequest
from crm.models import User, users_visible_to
from pipeline import selectors, services
from pipeline.models import ForecastCategory, LostReason, Opportunity, Pipeline, Stage

READ, WRITE = "opportunities:read", "opportunities:write"


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "order", "probability", "kind"]


class PipelineSerializer(serializers.ModelSerializer):
    stages = StageSerializer(many=True, read_only=True)

    class Meta:
        model = Pipeline
        fields = ["id", "name", "is_default", "stages"]


class PipelineViewSet(ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Live pipelines with their live stages in board order (two queries)."""

    serializer_class = PipelineSerializer
    pagination_class = None  # a handful of rows; clients want them all at once
    token_scopes = {"read": READ}

    def get_queryset(self) -> QuerySet[Pipeline]:
        stages = Stage.objects.filter(is_archived=False).order_by("order", "pk")
        return Pipeline.objects.filter(is_archived=False).prefetch_related(
            Prefetch("stages", queryset=stages)
        )


OPPORTUNITY_FIELDS = [
    "id",
    "name",
    "account",
    "owner",
    "pipeline",
    "stage",
    "amount",
    "expected_close_date",
    "deal_type",
    "forecast_category",
    "next_step",
    "next_step_date",
    "is_stale",
    "version",
    "stage_entered_at",
    "last_activity_at",
    "closed_at",
]


class OpportunitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Opportunity
        fields = OPPORTUNITY_FIELDS
        read_only_fields = OPPORTUNITY_FIELDS


class _ScopedFieldsMixin(serializers.Serializer):
    """Accounts and owners offered to a writer are the ones they can see (else 400)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is None:  # schema generation: no user, no choices
            return
        user = request.user
        if "account" in self.fields:
            self.fields["account"].queryset = Account.objects.visible_to(user)  # type: ignore[attr-defined]
        if "owner" in self.fields:
            self.fields["owner"].queryset = users_visible_to(user).exclude(  # type: ignore[attr-defined]
                role=User.Role.MARKETING
            )


class OpportunityCreateSerializer(_ScopedFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.none(), required=False, allow_null=True
    )
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), required=False)
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.filter(is_archived=False), required=False
    )
    stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.filter(is_archived=False), required=False
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    deal_type = serializers.ChoiceField(choices=Opportunity.DealType.choices, required=False)
    forecast_category = serializers.ChoiceField(choices=ForecastCategory.choices, required=False)
    next_step = serializers.CharField(max_length=200, required=False, allow_blank=True)
    next_step_date = serializers.DateField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        pipeline = attrs.get("pipeline") or (attrs["stage"].pipeline if "stage" in attrs else None)
        pipeline = pipeline or selectors.default_pipeline()
        if pipeline is None:
            raise serializers.ValidationError({"pipeline": "There is no pipeline yet."})
        attrs["pipeline"] = pipeline
        return attrs


class OpportunityUpdateSerializer(_ScopedFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.none(), required=False, allow_null=True
    )
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.none(), required=False)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    deal_type = serializers.ChoiceField(choices=Opportunity.DealType.choices, required=False)
    forecast_category = serializers.ChoiceField(choices=ForecastCategory.choices, required=False)
    next_step = serializers.CharField(max_length=200, required=False, allow_blank=True)
    next_step_date = serializers.DateField(required=False, allow_null=True)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="If given, the save is refused (409) when stale."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "stage" in self.initial_data or "pipeline" in self.initial_data:
            raise serializers.ValidationError(
                {"stage": "Change stages with POST /api/v1/opportunities/{id}/move/."}
            )
        return attrs


@extend_schema_field(OpenApiTypes.STR)
class _LostReasonField(serializers.Field):
    """A lost reason by id or by its label (case-insensitive)."""

    def to_internal_value(self, data: Any) -> LostReason:
        reasons = LostReason.objects.filter(is_active=True)
        found = (
            reasons.filter(pk=data).first()
            if isinstance(data, int) or str(data).isdigit()
            else reasons.filter(label__iexact=str(data).strip()).first()
        )
        if found is None:
            labels = ", ".join(reasons.values_list("label", flat=True))
            raise serializers.ValidationError(f"Unknown lost reason. Known: {labels}.")
        return found

    def to_representation(self, value: LostReason) -> str:
        return value.label


class OpportunityMoveSerializer(serializers.Serializer):
    stage = serializers.PrimaryKeyRelatedField(queryset=Stage.objects.all())
    version = serializers.IntegerField(min_value=1)
    lost_reason = _LostReasonField(required=False, allow_null=True)
    lost_note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class OpportunityFilter(django_filters.FilterSet):
    expected_close_date = django_filters.DateFromToRangeFilter(
        help_text="expected_close_date_after / expected_close_date_before (inclusive)"
    )

    class Meta:
        model = Opportunity
        fields = ["owner", "stage", "pipeline", "is_stale", "expected_close_date"]


class OpportunityViewSet(
    ListModelMixin, RetrieveModelMixin, CreateModelMixin, UpdateModelMixin, GenericViewSet
):
    """Deals the caller can see. Creates, edits and moves go through pipeline.services;
    a stale `version` answers 409 with the current version."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = OpportunitySerializer
    filterset_class = OpportunityFilter
    token_scopes = {"read": READ, "write": WRITE}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Opportunity]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI schema generation
            return Opportunity.objects.none()
        return Opportunity.objects.visible_to(self.request.user).select_related("stage")

    def _conflict(self, error: services.StaleOpportunity) -> Response:
        current = error.current
        return Response(
            {
                "detail": str(error),
                "version": current.version,
                "stage": current.stage_id,
                "current": OpportunitySerializer(current).data,
            },
            status=status.HTTP_409_CONFLICT,
        )

    @extend_schema(request=OpportunityCreateSerializer, responses={201: OpportunitySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = OpportunityCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        opportunity = services.create_opportunity(by=self.request.user, **data.validated_data)
        return Response(OpportunitySerializer(opportunity).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OpportunityUpdateSerializer, responses=OpportunitySerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        opportunity = self.get_object()  # 404 unless visible
        data = OpportunityUpdateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        version = changes.pop("version", None)
        try:
            opportunity = services.update_opportunity(
                opportunity=opportunity, by=self.request.user, expected_version=version, **changes
            )
        except services.StaleOpportunity as error:
            return self._conflict(error)
        return Response(OpportunitySerializer(opportunity).data)

    @extend_schema(request=OpportunityMoveSerializer, responses=OpportunitySerializer)
    @action(detail=True, methods=["post"])
    def move(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        opportunity = self.get_object()  # 404 unless visible
        data = OpportunityMoveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            result = services.move_opportunity(
                opportunity=opportunity,
                to_stage=values["stage"],
                expected_version=values["version"],
                by=request.user,
                lost_reason=values.get("lost_reason"),
                lost_note=values.get("lost_note", ""),
            )
        except services.StaleOpportunity as error:
            return self._conflict(error)
        body = dict(OpportunitySerializer(result.opportunity).data)
        if result.warnings:
            body["warnings"] = list(result.warnings)
        return Response(body)
