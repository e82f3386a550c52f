"""Activities API (/api/v1/activities/): list with filters and a cursor, log a call, meeting or
note, schedule a task, read, complete or edit one, delete one's own. Token scopes
`activities:read/write`.

Everything goes through activities.services, so logging a call through the API has the same
effects as on a record's page (first contact, the rotting clocks) and a task's reminder takes
the usual path (its `remind_at`, delivered by the reminder sweeper). The visibility scope is
Activity.visible_to: a record outside it is a 404.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.mixins import (
    CreateModelMixin,
    DestroyModelMixin,
    ListModelMixin,
    RetrieveModelMixin,
    UpdateModelMixin,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from accounts.models import Contact
from activities import services
from activities.models import Activity
from crm.api.fields import ScopedChoicesMixin, StrictBooleanField, StrictCharField
from crm.api.filters import UtcIsoDateTimeFilter
from crm.http import AuthenticatedRequest
from crm.models import User, users_visible_to
from leads.models import Lead
from pipeline.models import Opportunity

ACTIVITY_FIELDS = [
    "id",
    "kind",
    "subject",
    "body",
    "lead",
    "opportunity",
    "contact",
    "owner",
    "created_by",
    "due_at",
    "done",
    "done_at",
    "remind_at",
    "created_at",
    "updated_at",
]
LOGGABLE = [(kind.value, kind.label) for kind in Activity.Kind if kind in services.LOGGABLE_KINDS]


class ActivitySerializer(serializers.ModelSerializer):
    done = serializers.SerializerMethodField(help_text="Done (tasks), or logged (the rest).")

    class Meta:
        model = Activity
        fields = ACTIVITY_FIELDS
        read_only_fields = ACTIVITY_FIELDS

    def get_done(self, activity: Activity) -> bool:
        return activity.done_at is not None


class ActivityCreateSerializer(ScopedChoicesMixin):
    """A call, meeting or note that happened, or a task to do by `due_at`, on at least one of
    a lead, a deal and a contact (each one the caller can see)."""

    scoped_choices = {
        "lead": Lead.objects.visible_to,
        "opportunity": Opportunity.objects.visible_to,
        "contact": Contact.objects.visible_to,
        "owner": users_visible_to,
    }

    kind = serializers.ChoiceField(choices=LOGGABLE)
    subject = StrictCharField(max_length=200)
    body = StrictCharField(max_length=20_000, required=False, allow_blank=True)
    lead = serializers.PrimaryKeyRelatedField(
        queryset=Lead.objects.none(), required=False, allow_null=True
    )
    opportunity = serializers.PrimaryKeyRelatedField(
        queryset=Opportunity.objects.none(), required=False, allow_null=True
    )
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.none(), required=False, allow_null=True
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.none(),
        required=False,
        help_text="Who does it (default: you); they must be able to see the records.",
    )
    due_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Tasks: when it is due (required)."
    )


class ActivityUpdateSerializer(serializers.Serializer):
    """`{"done": true}` completes a task (anyone who can see it); the owner may also change
    the subject, the notes and a task's due time (which re-arms its reminder)."""

    done = StrictBooleanField(required=False)
    subject = StrictCharField(max_length=200, required=False)
    body = StrictCharField(max_length=20_000, required=False, allow_blank=True)
    due_at = serializers.DateTimeField(required=False)


class ActivityFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Activity.Kind.choices)
    lead = django_filters.NumberFilter(field_name="lead_id")
    opportunity = django_filters.NumberFilter(field_name="opportunity_id")
    contact = django_filters.NumberFilter(field_name="contact_id")
    owner = django_filters.NumberFilter(field_name="owner_id")
    done = django_filters.BooleanFilter(
        field_name="done_at", lookup_expr="isnull", exclude=True, label="Done (true) or open"
    )
    due_after = UtcIsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = UtcIsoDateTimeFilter(field_name="due_at", lookup_expr="lte")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Activity
        fields = [
            "kind",
            "lead",
            "opportunity",
            "contact",
            "owner",
            "done",
            "due_after",
            "due_before",
            "created_after",
            "created_before",
        ]


class ActivityViewSet(
    ListModelMixin,
    RetrieveModelMixin,
    CreateModelMixin,
    UpdateModelMixin,
    DestroyModelMixin,
    GenericViewSet,
):
    """Activities the caller can see (their own, and those on records they can see), newest
    first. Deleting is for one's own (owner or whoever logged it): others get 403."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    token_scopes = {"read": "activities:read", "write": "activities:write"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Activity]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI schema generation
            return Activity.objects.none()
        return Activity.objects.visible_to(self.request.user)

    @extend_schema(request=ActivityCreateSerializer, responses={201: ActivitySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ActivityCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        activity = services.create_activity(by=self.request.user, **data.validated_data)
        return Response(ActivitySerializer(activity).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ActivityUpdateSerializer, responses=ActivitySerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        activity = self.get_object()  # 404 unless visible
        data = ActivityUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            activity = services.update_activity(
                activity=activity, by=self.request.user, **data.validated_data
            )
        except services.NotYours as error:
            raise PermissionDenied(str(error)) from None
        return Response(ActivitySerializer(activity).data)

    def perform_destroy(self, instance: Activity) -> None:
        try:
            services.delete_activity(activity=instance, by=self.request.user)
        except services.NotYours as error:
            raise PermissionDenied(str(error)) from None
