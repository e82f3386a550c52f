"""Authentication backends: django-axes' lockout check, tolerant of request-less calls."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest

from crm.middleware import client_ip


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a login while its username + IP pair is locked out (django-axes).

    Logins through the site always carry the request. Calls without one (tests'
    `client.login`, scripts) cannot be attributed to an IP, so they skip the lockout check
    instead of crashing; the password check itself (ModelBackend) still applies.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def axes_client_ip(request: HttpRequest) -> str | None:
    """The same client IP the audit trail records (honours TRUSTED_PROXY_COUNT)."""
    return client_ip(request)
