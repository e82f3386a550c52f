"""Core API: who am I (handy to check a token)."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.models import ApiToken, User


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

    def get(self, request: Request) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {"user": UserSerializer(request.user).data, "scopes": token.scopes if token else None}
        )
