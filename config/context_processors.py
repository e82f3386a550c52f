"""Template context every page gets from the project itself."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def version(request: HttpRequest) -> dict[str, object]:
    """The running version, for the page footer (the same string /healthz reports)."""
    return {"plumb_version": settings.PLUMB_VERSION}
