"""API authentication: `Authorization: Bearer plumb_<prefix>_<secret>` and per-view scopes.

A token acts as its owner, narrowed to its scopes. Session users (the browser, the docs page)
act with their role alone.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from crm.models import ApiToken, User

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword.lower() not in self.keywords:
            return None
        return self.authenticate_token(raw.strip())

    def authenticate_token(self, raw: str) -> tuple[User, ApiToken]:
        brand, _, rest = raw.partition("_")
        prefix, _, secret = rest.partition("_")
        if brand != ApiToken.PREFIX or not prefix or not secret:
            raise exceptions.AuthenticationFailed("Malformed API token.")
        token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
        if token is None or not hmac.compare_digest(token.digest, ApiToken.hash(secret)):
            raise exceptions.AuthenticationFailed("Invalid API token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API token has been revoked.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is deactivated.")
        now = timezone.now()
        # Touch last_used_at at most once a minute: one UPDATE, not one per request.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def required_scope(view: Any, method: str) -> str | None:
    """A view declares `token_scopes = {"read": "leads:read", "write": "leads:write"}` or maps
    action names: `token_scopes = {"import_leads": "leads:write", ...}`."""
    scopes: dict[str, str] = getattr(view, "token_scopes", {})
    action = getattr(view, "action", None)
    if action and action in scopes:
        return scopes[action]
    return scopes.get("read" if method in SAFE_METHODS else "write")


class HasTokenScope(permissions.BasePermission):
    """Token requests need the view's scope; a view without declared scopes refuses tokens."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        scope = required_scope(view, request.method or "GET")
        if scope is None or not token.allows(scope):
            self.message = f"This token lacks the '{scope or 'session-only'}' scope."
            return False
        return True
