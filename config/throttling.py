"""API throttling: per client (token, else session user) and per scope, fixed windows in the
shared cache. Over the rate: 429 with Retry-After (DRF's Throttled).

Scopes: a view's `throttle_scope` ("import", "events"), or `throttle_scopes` mapping action
names to scopes; everything else is "api". Rates come from settings.API_THROTTLE_RATES (env
API_RATE_IMPORT, API_RATE_EVENTS, API_RATE_DEFAULT); None switches a scope off.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "120/min" → (120, 60)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period[0]]


def scope_of(view: Any) -> str:
    scopes: dict[str, str] = getattr(view, "throttle_scopes", {})
    action = getattr(view, "action", None)
    if action and action in scopes:
        return scopes[action]
    return getattr(view, "throttle_scope", None) or "api"


class ScopedApiThrottle(BaseThrottle):
    """Counts authenticated API requests per client and scope.

    A fixed window counted with the cache's atomic `add` + `incr` (Redis in production), so
    every web process counts together and a check costs one round trip; a client may burst up
    to twice the rate across a window boundary, which is fine for a guard against runaway
    integrations. Unauthenticated requests never get here: DRF checks permissions first, and
    bad tokens are throttled per IP before authentication (crm.api.auth.AuthFailureGuard).
    """

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = scope_of(view)
        rate = getattr(settings, "API_THROTTLE_RATES", {}).get(scope)
        if not rate:
            return True
        limit, window = parse_rate(rate)
        now = time.time()
        slot = math.floor(now / window)
        key = f"plumb:throttle:{scope}:{self.client_key(request)}:{window}:{slot}"
        if cache.add(key, 1, timeout=window + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=window + 1)
                count = 1
        if count > limit:
            self._wait = (slot + 1) * window - now
            return False
        return True

    def client_key(self, request: Request) -> str:
        # Cycle: settings name this module (REST_FRAMEWORK), and crm's models and middleware
        # need the settings loaded; DRF imports throttles while settings are still loading.
        from crm.models import ApiToken

        if isinstance(request.auth, ApiToken):
            return f"token-{request.auth.pk}"
        user = request.user
        if user is not None and user.is_authenticated:
            return f"user-{user.pk}"
        return f"ip-{self.get_ident(request)}"

    def get_ident(self, request: Request) -> str:
        # Cycle: as in client_key (crm needs the settings that name this module).
        from crm.middleware import client_ip

        return client_ip(request._request) or "unknown"

    def wait(self) -> float | None:
        return self._wait
