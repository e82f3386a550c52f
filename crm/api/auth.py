"""API authentication: `Authorization: Bearer plumb_<prefix>_<secret>` and per-view scopes.

A token acts as its owner, narrowed to its scopes. Session users (the browser, the docs page)
act with their role alone.
"""

from __future__ import annotations

import hmac
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from crm.middleware import client_ip
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
        guard = AuthFailureGuard(request)
        guard.check()
        try:
            return self.authenticate_token(raw.strip())
        except exceptions.AuthenticationFailed:
            guard.failed()
            raise

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


class AuthFailureGuard:
    """Throttle token guessing: after API_AUTH_FAILURE_LIMIT bad tokens from one client IP
    within API_AUTH_FAILURE_WINDOW seconds, every token request from it gets 429 with
    Retry-After until the window ends (valid tokens too, or guessing would go on).

    A fixed window in the shared cache (Redis in production): `add` + `incr` are atomic, so
    concurrent processes count together.
    """

    def __init__(self, request: Request) -> None:
        self.window = int(getattr(settings, "API_AUTH_FAILURE_WINDOW", 60))
        self.limit = int(getattr(settings, "API_AUTH_FAILURE_LIMIT", 10))
        now = time.time()
        slot = math.floor(now / self.window)
        self.wait = int((slot + 1) * self.window - now) + 1
        self.key = f"plumb:api-auth-failures:{client_ip(request._request)}:{slot}"

    def check(self) -> None:
        if self.limit and (cache.get(self.key) or 0) >= self.limit:
            raise exceptions.Throttled(
                wait=self.wait, detail="Too many invalid API tokens from your address."
            )

    def failed(self) -> None:
        if not self.limit:
            return  # throttling switched off: nothing to count
        if cache.add(self.key, 1, timeout=self.window + 1):
            return
        try:
            cache.incr(self.key)
        except ValueError:  # expired between add and incr
            cache.add(self.key, 1, timeout=self.window + 1)


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
