"""Login required everywhere except views marked `login_not_required` (login, healthz).

The API under /api/ authenticates itself (tokens or session, via DRF) and answers 401/403
instead of redirecting to the login page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import middleware
from django.http import HttpRequest, HttpResponse


class LoginRequiredMiddleware(middleware.LoginRequiredMiddleware):
    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if request.path.startswith("/api/"):
            return None
        if request.user.is_authenticated and not request.user.is_active:
            return self.handle_no_permission(request, view_func)
        return super().process_view(request, view_func, view_args, view_kwargs)
