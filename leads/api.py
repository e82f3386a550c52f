"""Leads API: list/read/patch, lifecycle transitions, and the bulk import (token scopes
`leads:read` / `leads:write`). Serializers check shape; leads.services decide."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from crm.api.filters import UtcIsoDateTimeFilter
from crm.http import AuthenticatedRequest
from leads import selectors, services
from leads.importing.batch import MATCH_KEYS
from leads.importing.fields import PARSERS, FieldParser
from leads.importing.service import BatchTooLarge, IdempotencyKey, IdempotencyMismatch, import_leads
from leads.models import Lead
from pipeline import selectors as pipeline_selectors
from pipeline.models import Opportunity, Pipeline


class LeadSerializer(serializers.ModelSerializer):
    """A lead as the API shows it (output only: writes go through services)."""

    class Meta:
        model = Lead
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "company",
            "title",
            "phone",
            "employee_count",
            "industry",
            "country",
            "region",
            "source",
            "campaign",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "external_id",
            "attributes",
            "owner",
            "account",
            "score",
            "stage",
            "mql_at",
            "srl_at",
            "sql_at",
            "converted_at",
            "disqualified_at",
            "recycled_at",
            "stage_reason",
            "first_contacted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def _documented(parser: FieldParser) -> serializers.Field:
    """A documentation-only serializer field whose schema is the parser's own."""
    schema = extend_schema_field(parser.schema(), component_name=parser.component)
    field_class = schema(
        type(f"{parser.name.title().replace('_', '')}Field", (serializers.JSONField,), {})
    )
    return field_class(required=False, help_text=parser.description() or None)


# Documentation of one lead record, in an import and in a PATCH (the schema, and what the API
# fuzzing sends), generated from the import's own parser table: exactly what
# leads.importing.fields.clean_lead_fields accepts. The batch is validated by that table in
# one pass, not by this serializer.
LeadRecordSerializer = type(
    "LeadRecordSerializer",
    (serializers.Serializer,),
    {
        "__module__": __name__,
        "__doc__": "One lead record: the fields below, all optional (an import needs its "
        "match key, a new lead its email). Any other field fails the record, naming it "
        "(custom data goes in `attributes`).",
        **{name: _documented(parser) for name, parser in PARSERS.items()},
    },
)


class LeadImportSerializer(serializers.Serializer):
    """Documentation of the import body. The batch is validated in one pass by
    leads.importing, not with one serializer per record."""

    match_on = serializers.ChoiceField(choices=list(MATCH_KEYS))
    leads = LeadRecordSerializer(many=True, help_text="Up to 1,000 leads.")


class ImportResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "failed"])
    id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(  # type: ignore[assignment]  # the field is named errors
        child=serializers.ListField(child=serializers.CharField())
    )


class LeadImportResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = ImportResultSerializer(many=True)


class LeadTransitionSerializer(serializers.Serializer):
    """`{"to": "srl"}`; disqualify / recycle need `reason`; `converted` needs `pipeline`
    (else the default) and takes amount, expected_close_date, deal_type, name."""

    to = serializers.ChoiceField(choices=Lead.Lifecycle.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    pipeline = serializers.PrimaryKeyRelatedField(
        queryset=Pipeline.objects.filter(is_archived=False), required=False
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    expected_close_date = serializers.DateField(required=False)
    deal_type = serializers.ChoiceField(choices=Opportunity.DealType.choices, required=False)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    allowed = serializers.ListField(child=serializers.CharField())


class IntegerFilter(django_filters.NumberFilter):
    """A whole-number filter: scores are integers, so ?score_min=0.5 is a 400, not a guess."""

    field_class = forms.IntegerField


class LeadFilter(django_filters.FilterSet):
    stage = django_filters.ChoiceFilter(choices=Lead.Lifecycle.choices)
    owner = django_filters.NumberFilter(field_name="owner_id")
    source = django_filters.ChoiceFilter(choices=Lead.Source.choices)
    score_min = IntegerFilter(field_name="score", lookup_expr="gte")
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    search = django_filters.CharFilter(method="filter_search", label="Name, e-mail or company")

    class Meta:
        model = Lead
        fields = ["stage", "owner", "source", "score_min", "updated_since", "search"]

    def filter_search(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        return selectors.search(queryset, value)


class LeadViewSet(ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Leads visible to the caller (tokens act as their owner, narrowed to their scopes)."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    token_scopes = {"read": "leads:read", "write": "leads:write"}
    throttle_scopes = {"import_leads": "import"}  # config.throttling: per-scope API rates

    def get_queryset(self) -> QuerySet[Lead]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Lead.objects.none()
        return selectors.lead_list(user=self.request.user)

    @extend_schema(
        request=LeadRecordSerializer,
        responses={200: LeadSerializer, 400: OpenApiResponse(description="Field errors")},
    )
    def partial_update(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        if not isinstance(request.data, dict) or not request.data:
            raise DRFValidationError({"detail": ["Send a JSON object with the fields to change."]})
        lead = self.get_object()  # 404 unless visible
        lead = services.update_lead(lead=lead, by=request.user, data=dict(request.data))
        return Response(LeadSerializer(lead).data)

    @extend_schema(
        request=LeadTransitionSerializer,
        responses={200: LeadSerializer, 409: ConflictSerializer},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        data = LeadTransitionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = self.get_object()
        values = data.validated_data
        try:
            if values["to"] == Lead.Lifecycle.CONVERTED:
                pipeline = values.get("pipeline") or pipeline_selectors.default_pipeline()
                if pipeline is None:
                    raise DRFValidationError({"pipeline": ["Choose a pipeline."]})
                services.convert_lead(
                    lead=lead,
                    by=request.user,
                    pipeline=pipeline,
                    amount=values.get("amount") or Decimal("0"),
                    expected_close_date=values.get("expected_close_date"),
                    deal_type=values.get("deal_type"),
                    name=values["name"],
                )
            else:
                services.transition_lead(
                    lead=lead,
                    to=values["to"],
                    by=request.user,
                    reason=values["reason"],
                    note=values["note"],
                )
        except services.InvalidTransition as error:
            return Response(
                {"detail": error.detail, "allowed": error.allowed}, status=status.HTTP_409_CONFLICT
            )
        return Response(LeadSerializer(self.get_queryset().get(pk=lead.pk)).data)

    @extend_schema(
        request=LeadImportSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Same key + same body within 24 h replays the first response.",
            )
        ],
        responses={
            200: LeadImportResponseSerializer,
            207: LeadImportResponseSerializer,
            400: OpenApiResponse(description="Malformed body"),
            413: OpenApiResponse(description="More than 1,000 leads"),
            422: OpenApiResponse(description="Idempotency-Key reused with another body"),
        },
    )
    @action(detail=False, methods=["post"], url_path="import", url_name="import")
    def import_leads(self, request: AuthenticatedRequest) -> Response:
        """Upsert up to 1,000 leads; per-record results in request order (200 / 207)."""
        body = request.data
        if not isinstance(body, dict):
            raise DRFValidationError({"detail": ["Expected a JSON object."]})
        errors: dict[str, list[str]] = {}
        if unknown := sorted(set(body) - {"match_on", "leads"}):
            errors["detail"] = [f"Unknown top-level field(s): {', '.join(unknown)}."]
        match_on = body.get("match_on", "email")
        if match_on not in MATCH_KEYS:
            errors["match_on"] = ['Expected "email" or "external_id".']
        records = body.get("leads")
        if not isinstance(records, list) or not records:
            errors["leads"] = ["Send a non-empty list of leads."]
        if errors or not isinstance(records, list):
            raise DRFValidationError(errors)
        key = (request.headers.get("Idempotency-Key") or "").strip()[:200]
        try:
            outcome = import_leads(
                records=records,
                match_on=match_on,
                by=request.user,
                idempotency=IdempotencyKey.of(key, body) if key else None,
            )
        except IdempotencyMismatch as error:
            return Response({"detail": str(error)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        except BatchTooLarge as error:
            return Response({"detail": str(error)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
        return Response(outcome.as_dict(), status=outcome.status_code, headers=headers)
