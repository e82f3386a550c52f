"""Core API: who am I (handy to check a token), users, teams and the audit trail."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.mixins import ListModelMixin, RetrieveModelMixin
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from crm.api.pagination import CursorPagination
from crm.http import AuthenticatedRequest
from crm.models import ApiToken, AuditLog, Team, User, users_visible_to
from crm.services_users import teams_manageable_by


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "email", "role", "team"]


class MeSerializer(serializers.Serializer):
    user = UserSerializer()
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)


class MeView(APIView):
    """The authenticated user and, for a token, its scopes."""

    token_scopes = {"read": "read:all"}
    serializer_class = MeSerializer

    def get(self, request: AuthenticatedRequest) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {"user": UserSerializer(request.user).data, "scopes": token.scopes if token else None}
        )


# --- users, teams and the audit trail (read-only) ---------------------------------------------


class _OrderedCursor(CursorPagination):
    # DRF takes a tuple of any length; the stubs say exactly two
    ordering: tuple[str, ...] = ("id",)  # type: ignore[assignment]


class _ByUsername(_OrderedCursor):
    ordering = ("username", "id")


class _ByPath(_OrderedCursor):
    ordering = ("path", "id")


class _NewestAuditFirst(_OrderedCursor):
    ordering = ("-at", "-id")


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "parent", "manager", "depth"]


class UserDetailSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "email",
            "role",
            "team",
            "is_available",
            "max_open_leads",
        ]


class UserViewSet(ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Active users the caller may see: themselves, their subtree, or everyone (admin)."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = UserDetailSerializer
    pagination_class = _ByUsername
    token_scopes = {"read": "read:all"}
    filterset_fields = ["role", "team"]

    def get_queryset(self) -> QuerySet[User]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return User.objects.none()
        return users_visible_to(self.request.user)


class TeamViewSet(ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """Teams the caller manages (admins: all) plus their own team."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = TeamSerializer
    pagination_class = _ByPath
    token_scopes = {"read": "read:all"}

    def get_queryset(self) -> QuerySet[Team]:
        if getattr(self, "swagger_fake_view", False):
            return Team.objects.none()
        user = self.request.user
        return Team.objects.filter(
            Q(pk__in=teams_manageable_by(user).values("pk")) | Q(pk=user.team_id)
        )


class AuditLogSerializer(serializers.ModelSerializer):
    actor: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = AuditLog
        fields = [
            "id",
            "at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "changes",
            "bulk_count",
            "request_id",
            "ip_address",
        ]


class AuditLogFilter(django_filters.FilterSet):
    since = django_filters.DateFilter(field_name="at", lookup_expr="date__gte")
    until = django_filters.DateFilter(field_name="at", lookup_expr="date__lte")

    class Meta:
        model = AuditLog
        fields = ["actor", "action", "target_type", "target_id"]


class AuditLogViewSet(ListModelMixin, RetrieveModelMixin, GenericViewSet):
    """The audit trail for admins (others get 403): filter by actor, action, record, dates."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = AuditLogSerializer
    pagination_class = _NewestAuditFirst
    filterset_class = AuditLogFilter
    token_scopes = {"read": "read:all"}

    def get_queryset(self) -> QuerySet[AuditLog]:
        if getattr(self, "swagger_fake_view", False):
            return AuditLog.objects.none()
        if not self.request.user.is_admin:
            raise PermissionDenied("Only admins read the audit log.")
        return AuditLog.objects.select_related("actor")
