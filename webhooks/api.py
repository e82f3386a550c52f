"""The webhooks API (a contract, README "Webhooks"): `/api/v1/webhooks/` list, create, read,
patch, delete; `POST …/{id}/rotate-secret/`; `GET …/{id}/deliveries/`. Scope
`webhooks:write`; admins, and marketing for their own subscriptions to lead events.
Serializers check shape, webhooks.services decide."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.mixins import DestroyModelMixin, ListModelMixin, RetrieveModelMixin
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from crm.api.auth import HasTokenScope
from crm.api.pagination import CursorPagination
from crm.http import AuthenticatedRequest
from crm.models import ApiToken, User
from crm.permissions import is_marketing_or_admin, role_permission
from webhooks import selectors, services
from webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookSubscription

SCOPE = ApiToken.Scope.WEBHOOKS_WRITE.value
ONLY = "Only admins and marketing manage webhooks."


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    """A subscription as the API shows it (the secret never, but once: see below)."""

    active = serializers.BooleanField(source="is_active", read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(EVENT_TYPES)))

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "events",
            "active",
            "acting_user",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookSubscriptionSecretSerializer(WebhookSubscriptionSerializer):
    """The answer to a create or a secret rotation: the only time the secret is shown."""

    secret = serializers.CharField(
        read_only=True, help_text="The signing secret. Shown this once: store it now."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookSubscriptionWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="https:// URL that receives POSTs.")
    events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        allow_empty=False,
        max_length=len(EVENT_TYPES),
        help_text=f"Event types: {', '.join(EVENT_TYPES)}.",
    )
    active = serializers.BooleanField(required=False, default=True)
    acting_user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        help_text="Payloads only hold records this user may see (default: you).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict) and (
            unknown := sorted(set(self.initial_data) - set(self.fields))
        ):
            raise serializers.ValidationError(dict.fromkeys(unknown, "Unknown field."))
        return attrs


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event = serializers.UUIDField(source="event_id", read_only=True)
    type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "type",
            "state",
            "attempts",
            "last_status_code",
            "last_duration_ms",
            "last_error",
            "next_attempt_at",
            "first_attempted_at",
            "last_attempted_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class _NewestFirst(CursorPagination):
    # DRF takes a tuple of any length; the stubs say exactly two
    ordering: tuple[str, ...] = ("-id",)  # type: ignore[assignment]


class WebhookViewSet(ListModelMixin, RetrieveModelMixin, DestroyModelMixin, GenericViewSet):
    """Webhook subscriptions the caller manages (others: 404)."""

    request: AuthenticatedRequest

    serializer_class = WebhookSubscriptionSerializer
    pagination_class = _NewestFirst
    permission_classes = [
        IsAuthenticated,
        HasTokenScope,
        role_permission(is_marketing_or_admin, ONLY),
    ]
    token_scopes = {"read": SCOPE, "write": SCOPE}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[WebhookSubscription]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI schema generation
            return WebhookSubscription.objects.none()
        return selectors.subscription_list(user=self.request.user)

    @extend_schema(
        request=WebhookSubscriptionWriteSerializer,
        responses={201: WebhookSubscriptionSecretSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = WebhookSubscriptionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        subscription, secret = services.create_subscription(
            by=self.request.user,
            url=values["url"],
            events=values["events"],
            acting_user=values.get("acting_user"),
            is_active=values["active"],
        )
        body = WebhookSubscriptionSecretSerializer(subscription).data
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=WebhookSubscriptionWriteSerializer(partial=True),
        responses=WebhookSubscriptionSerializer,
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscription = self.get_object()  # 404 unless theirs
        data = WebhookSubscriptionWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "active" in values:
            values["is_active"] = values.pop("active")
        subscription = services.update_subscription(
            subscription=subscription, by=self.request.user, values=values
        )
        return Response(WebhookSubscriptionSerializer(subscription).data)

    def perform_destroy(self, instance: WebhookSubscription) -> None:
        services.delete_subscription(subscription=instance, by=self.request.user)

    @extend_schema(request=None, responses=WebhookSubscriptionSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """A new secret, shown once; the old one still signs for 24 hours."""
        subscription, secret = services.rotate_secret(
            subscription=self.get_object(), by=request.user
        )
        body = WebhookSubscriptionSecretSerializer(subscription).data
        return Response({**body, "secret": secret})

    @extend_schema(request=None, responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """The subscription's deliveries, newest first (cursor pages)."""
        subscription = self.get_object()
        paginator = _NewestFirst()
        page = paginator.paginate_queryset(
            selectors.delivery_list(subscription=subscription), request, view=self
        )
        return paginator.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
