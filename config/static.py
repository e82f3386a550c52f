"""Production plumbing that runs before Django's own middleware: static files and liveness."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware

ONE_YEAR = 365 * 24 * 60 * 60


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """Whitenoise with a one-year `immutable` cache for hashed files (its default is ten years;
    a year is what HTTP caches are told to honour). Unhashed files keep whitenoise's short
    max-age; the .gz/.br variants collectstatic wrote are chosen by Accept-Encoding."""

    FOREVER = ONE_YEAR


class LivenessMiddleware:
    """`GET /livez`: 200 while this process serves requests, whatever the database, broker or
    workers do (those are /healthz's business). The container HEALTHCHECK asks this, so a
    database outage does not get healthy web containers restarted. Answered before the host
    check and the HTTPS redirect: the probe comes from inside the container over plain HTTP."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/livez" and request.method in {"GET", "HEAD"}:
            response = JsonResponse({"status": "ok", "version": settings.PLUMB_VERSION})
            response["Cache-Control"] = "no-store"
            response["X-Request-ID"] = uuid.uuid4().hex  # the access log line carries one too
            return response
        return self.get_response(request)
