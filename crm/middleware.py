"""Request-wide middleware: login required, audit context, time zone, CSP, body size.

Login required everywhere except views marked `login_not_required` (login, healthz).

The API under /api/ authenticates itself (tokens or session, via DRF) and answers 401/403
instead of redirecting to the login page.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import middleware
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from crm.audit import new_request_id, request_context
from crm.views.errors import too_large


class LoginRequiredMiddleware(middleware.LoginRequiredMiddleware):
    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None
        if request.user.is_authenticated and not request.user.is_active:
            return self.handle_no_permission(request, view_func)
        return super().process_view(request, view_func, view_args, view_kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. Behind `TRUSTED_PROXY_COUNT` proxies, the address the outermost
    trusted proxy saw (X-Forwarded-For read from the right, so clients cannot spoof it)."""
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    """Tag every audit entry written during a request with its request id and client IP.

    The request id is the proxy's `X-Request-ID` when it sends a sane one, else a new one; it
    is echoed back in the response so a log line and an audit entry can be matched.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else new_request_id()
        # Also on the request: Django logs 4xx responses after the middleware returns.
        request.request_id = request_id  # type: ignore[attr-defined]
        with request_context(request_id=request_id, ip_address=client_ip(request)):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class UserTimezoneMiddleware:
    """Render times in the logged-in user's own time zone (Settings → Profile)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        name = getattr(user, "time_zone", "") if user is not None else ""
        if name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class ContentSecurityPolicyMiddleware:
    """Send `Content-Security-Policy` (settings.CONTENT_SECURITY_POLICY) on every response.

    Scripts load only from our own origin (no inline scripts, no eval): templates keep JS in
    static/js and static/vendor. Styles allow inline `style` attributes (progress bars,
    htmx's indicator style) but not foreign origins.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class RequestSizeLimitMiddleware:
    """Refuse oversized request bodies up front with 413 (before anything reads them).

    Form and JSON bodies are capped at DATA_UPLOAD_MAX_MEMORY_SIZE (DRF's JSON parser does not
    check it by itself); multipart uploads at MAX_UPLOAD_SIZE. Bodies that slip past (no
    Content-Length) still hit Django's own limit, which `crm.views.errors` turns into 413.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
        limit = settings.MAX_UPLOAD_SIZE if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return too_large(request, limit=limit)
        return self.get_response(request)
