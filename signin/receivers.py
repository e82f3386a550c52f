"""Signal receivers and the Django admin's login page. Thin: the work is in signin.sessions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from crm.models import User
from signin import policy, sessions, two_factor


def on_logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """Every sign-in (our /login/, SSO, a test's force_login) stamps and lists its session."""
    if request is None or not hasattr(request, "session"):
        return
    policy.current()  # warm the cache: the pages that follow read it without a query
    sessions.start(request, user, has_two_factor=two_factor.has_two_factor(user))


def on_logged_out(sender: Any, request: HttpRequest | None, user: User | None, **kw: Any) -> None:
    if request is not None and hasattr(request, "session"):
        sessions.forget(request.session.session_key)


@login_not_required
def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """/admin/login/: our sign-in (second step, SSO-only and lockout included), then back."""
    target = request.GET.get("next", "/admin/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/admin/"
    if not request.user.is_authenticated:
        return redirect_to_login(target)
    if not request.user.is_staff:
        raise PermissionDenied("Your account has no access to the Django admin.")
    return redirect(target)
