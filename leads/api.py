"""Leads API: list/read/patch, lifecycle transitions, and the bulk import (token scopes
`leads:read` / `leads:write`). Serializers check shape; leads.services decide."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import django_filters
from django import forms
from django.db import IntegrityError, transaction
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

from crm.api_filters import UtcIsoDateTimeFilter
from crm.http import AuthenticatedRequest
from leads import selectors, services
from leads.importing import MAX_BATCH, TEXT_FIELDS
from leads.models import Lead
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


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True})
class _ExternalIdField(serializers.JSONField):
    """Documentation only: an id sent as text or as a whole number (stored as text), or null
    to clear it."""


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 0, "maximum": 2_147_483_647},
            {"type": "string", "description": "digits"},
        ],
        "nullable": True,
    }
)
class _CountField(serializers.JSONField):
    """Documentation only: a whole number, or its digits as text."""


def _text_field(length: int) -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text=f"At most {length} characters (surrounding spaces are trimmed; null = empty).",
    )


class LeadRecordSerializer(serializers.Serializer):
    """Documentation of one lead record, in an import and in a PATCH (the schema, and what the
    API fuzzing sends): exactly what leads.importing.clean_lead_fields accepts. Any other field
    fails the record, naming it (custom data goes in `attributes`)."""

    email = serializers.CharField(
        required=False,
        help_text="Needed when matching on email, and for every new lead; stored trimmed and "
        "in lower case.",
    )
    external_id = _ExternalIdField(
        required=False, help_text="Your id for the lead (needed when matching on it)."
    )
    first_name = _text_field(TEXT_FIELDS["first_name"])
    last_name = _text_field(TEXT_FIELDS["last_name"])
    phone = _text_field(TEXT_FIELDS["phone"])
    title = _text_field(TEXT_FIELDS["title"])
    company = _text_field(TEXT_FIELDS["company"])
    industry = _text_field(TEXT_FIELDS["industry"])
    country = _text_field(TEXT_FIELDS["country"])
    region = _text_field(TEXT_FIELDS["region"])
    campaign = _text_field(TEXT_FIELDS["campaign"])
    utm_source = _text_field(TEXT_FIELDS["utm_source"])
    utm_medium = _text_field(TEXT_FIELDS["utm_medium"])
    utm_campaign = _text_field(TEXT_FIELDS["utm_campaign"])
    employee_count = _CountField(required=False)
    source = serializers.ChoiceField(choices=sorted(Lead.Source.values), required=False)
    attributes = serializers.DictField(
        required=False, help_text="Custom data (at most 16 KB), merged into what is stored."
    )
    owner = serializers.IntegerField(
        required=False, allow_null=True, help_text="A user id, or null for unassigned."
    )


class LeadImportSerializer(serializers.Serializer):
    """Documentation of the import body. The batch is validated in one pass by
    leads.importing, not with one serializer per record."""

    match_on = serializers.ChoiceField(choices=["email", "external_id"])
    leads = LeadRecordSerializer(many=True, help_text="Up to 1,000 leads.")


class ImportResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "failed"])
    id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


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


def _body_digest(data: Any) -> str:
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


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
                pipeline = (
                    values.get("pipeline") or Pipeline.objects.filter(is_default=True).first()
                )
                if pipeline is None:
                    raise DRFValidationError({"pipeline": ["Choose a pipeline."]})
                services.convert_lead(
                    lead=lead,
                    by=request.user,
                    pipeline=pipeline,
                    amount=values.get("amount") or 0,
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
        if match_on not in ("email", "external_id"):
            errors["match_on"] = ['Expected "email" or "external_id".']
        records = body.get("leads")
        if not isinstance(records, list) or not records:
            errors["leads"] = ["Send a non-empty list of leads."]
        if errors:
            raise DRFValidationError(errors)
        if len(records) > MAX_BATCH:
            return Response(
                {"detail": f"At most {MAX_BATCH} leads per call; this one has {len(records)}."},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        key = (request.headers.get("Idempotency-Key") or "").strip()[:200]
        digest = _body_digest(body) if key else ""
        if key:
            replay = self._replay(request, key, digest)
            if replay is not None:
                return replay
        try:
            with transaction.atomic():
                outcome = services.import_leads(records=records, match_on=match_on, by=request.user)
                code = status.HTTP_200_OK if outcome.failed == 0 else status.HTTP_207_MULTI_STATUS
                payload = outcome.as_dict()
                if key:
                    services.remember_import(
                        user=request.user,
                        key=key,
                        body_sha256=digest,
                        status_code=code,
                        response=payload,
                    )
        except IntegrityError:
            # A concurrent request with the same key committed first: replay its answer.
            replay = self._replay(request, key, digest) if key else None
            if replay is None:
                raise
            return replay
        return Response(payload, status=code)

    def _replay(self, request: AuthenticatedRequest, key: str, digest: str) -> Response | None:
        try:
            stored = services.replayed_import(user=request.user, key=key, body_sha256=digest)
        except services.IdempotencyMismatch as error:
            return Response({"detail": str(error)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if stored is None:
            return None
        return Response(
            stored.response, status=stored.status_code, headers={"Idempotent-Replayed": "true"}
        )
