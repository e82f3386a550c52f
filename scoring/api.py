"""Scoring API: rules (CRUD), rescore progress, a lead's score, and engagement events in."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import permissions, serializers, status
from rest_framework.mixins import (
    CreateModelMixin,
    DestroyModelMixin,
    ListModelMixin,
    RetrieveModelMixin,
    UpdateModelMixin,
)
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from crm.api.auth import HasTokenScope
from crm.api.parsers import SafeJSONParser
from crm.http import AuthenticatedRequest
from crm.permissions import is_marketing_or_admin, role_permission
from scoring import events as events_in
from scoring import selectors, services
from scoring.models import RescoreJob, ScoringRule

# Everyone signed in reads the rules; marketing and admins change them.
CanEditRules = role_permission(
    is_marketing_or_admin, "Only marketing and admins change scoring rules.", read_open=True
)
CanSendEvents = role_permission(
    is_marketing_or_admin,
    "Only marketing and admin users (or their tokens) send engagement events.",
)


class ScoringRuleSerializer(serializers.ModelSerializer):
    value = serializers.JSONField(required=False, allow_null=True)

    class Meta:
        model = ScoringRule
        fields = [
            "id",
            "name",
            "category",
            "field",
            "operator",
            "value",
            "event_type",
            "url_pattern",
            "points",
            "max_occurrences",
            "window_days",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class RescoreJobSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = RescoreJob
        fields = [
            "id",
            "version",
            "status",
            "done",
            "total",
            "percent",
            "created_at",
            "started_at",
            "finished_at",
        ]


class ScoringRuleViewSet(
    ListModelMixin,
    RetrieveModelMixin,
    CreateModelMixin,
    UpdateModelMixin,
    DestroyModelMixin,
    GenericViewSet,
):
    """Rules. Every write creates a new rule-set version and queues a rescore of all leads."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = ScoringRuleSerializer
    permission_classes = [permissions.IsAuthenticated, CanEditRules]
    token_scopes = {"read": "leads:read", "write": "scoring:write"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    pagination_class = None  # a rule set is small (tens of rules)

    def get_permissions(self) -> list[Any]:
        return [*super().get_permissions(), HasTokenScope()]

    def get_queryset(self) -> QuerySet[ScoringRule]:
        return selectors.rule_list()

    def perform_create(self, serializer: BaseSerializer[ScoringRule]) -> None:
        serializer.instance = services.create_rule(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[ScoringRule]) -> None:
        assert serializer.instance is not None  # an update always has its instance
        serializer.instance = services.update_rule(
            rule=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance: ScoringRule) -> None:
        services.delete_rule(rule=instance, by=self.request.user)


class RescoreJobViewSet(ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Rescore progress (done / total) of rule changes, newest first."""

    serializer_class = RescoreJobSerializer
    token_scopes = {"read": "leads:read"}
    pagination_class = None

    def get_queryset(self) -> QuerySet[RescoreJob]:
        return (
            RescoreJob.objects.order_by("-pk")[:20]
            if self.action == "list"
            else RescoreJob.objects.all()
        )


class LeadScoreSerializer(serializers.Serializer):
    lead = serializers.IntegerField(source="pk")
    score = serializers.IntegerField()
    fit_score = serializers.IntegerField()
    engagement_score = serializers.IntegerField()
    breakdown = serializers.JSONField()
    version = serializers.IntegerField(source="score_version", allow_null=True)
    scored_at = serializers.DateTimeField(allow_null=True)
    last_engaged_at = serializers.DateTimeField(allow_null=True)
    stage = serializers.CharField()


class LeadScoreView(APIView):
    """A lead's score, its per-rule breakdown and the rule-set version that produced it."""

    token_scopes = {"read": "leads:read"}

    @extend_schema(responses=LeadScoreSerializer)
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        lead = selectors.lead_score(user=request.user, lead_id=pk)
        if lead is None:
            raise Http404
        return Response(LeadScoreSerializer(lead).data)


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "failed"])
    id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField()  # type: ignore[assignment]  # the field is named errors


class EventBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = EventResultSerializer(many=True)


@extend_schema_field(
    {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 100}, {"type": "integer"}]}
)
class _IdField(serializers.JSONField):
    """Documentation only: an id (the event's, or its lead's external id) sent as text or as a
    whole number; stored as text. Unlike the lead import, an event cannot send null here."""


class EventLeadSerializer(serializers.Serializer):
    email = serializers.CharField(
        required=False, help_text="The lead's e-mail (case and surrounding spaces ignored) …"
    )
    external_id = _IdField(required=False, help_text="… or its id in your system.")


class EventInSerializer(serializers.Serializer):
    """Documentation of one event (the schema, and what the API fuzzing sends). A batch is
    checked in one pass by scoring.events, which answers per event: this serializer describes
    exactly what that accepts, no more and no less."""

    id = _IdField(help_text="Your event id, unique: a replay is a `duplicate`.")
    lead = EventLeadSerializer(help_text="Which lead: by e-mail, or by external id.")
    type = serializers.CharField(
        help_text="Lower-case letters, digits and _ . : - (at most 50; case and surrounding "
        "spaces are ignored): email_opened, email_clicked, page_viewed, form_submitted, "
        "content_downloaded, webinar_attended, trial_started, unsubscribed, or your own."
    )
    occurred_at = serializers.CharField(
        help_text="ISO 8601 date-time, e.g. 2026-11-20T10:00:00Z; without an offset it is UTC; "
        "at most 5 minutes in the future."
    )
    properties = serializers.DictField(
        required=False,
        allow_null=True,
        help_text='Free-form; "url" is what URL rules match (e.g. /pricing).',
    )
    create_lead = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Create a `new` lead from lead.email when none matches (else that event fails).",
    )


EVENTS_REQUEST = PolymorphicProxySerializer(
    component_name="Events",
    serializers=[EventInSerializer, EventInSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


class EventsView(APIView):
    """POST one event or a list of up to 1,000. Per-event results; 200 when none failed,
    207 otherwise; 413 past 1,000 events. JSON only."""

    token_scopes = {"write": "events:write"}
    throttle_scope = "events"  # config.throttling: per-scope API rates
    permission_classes = [permissions.IsAuthenticated, CanSendEvents]
    parser_classes = [SafeJSONParser]

    def get_permissions(self) -> list[Any]:
        return [*super().get_permissions(), HasTokenScope()]

    @extend_schema(
        request=EVENTS_REQUEST,
        responses={
            200: EventBatchResultSerializer,
            207: EventBatchResultSerializer,
            400: OpenApiResponse(description="Not an event or a list of events."),
            413: OpenApiResponse(description="More than 1,000 events."),
        },
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = request.data
        events = (
            data if isinstance(data, list) else [data] if isinstance(data, dict) and data else None
        )
        if not events:
            return Response(
                {"detail": "Send one event (a JSON object) or a non-empty list of events."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            result = events_in.ingest_events(events=events, user=request.user)
        except events_in.TooManyEvents:
            return Response(
                {
                    "detail": f"At most {events_in.MAX_EVENTS_PER_REQUEST} events per request; split the batch."
                },
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        code = status.HTTP_200_OK if result.count("failed") == 0 else status.HTTP_207_MULTI_STATUS
        return Response(result.as_dict(), status=code)
