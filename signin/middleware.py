"""Session lifetime and two-factor enforcement, for every page and session-authenticated API
call (API tokens are the machine path: untouched).

- A session past the idle timeout or the absolute lifetime (Settings → Security) is ended and
  the browser sent to the login page with the reason.
- A user the policy requires two-factor of, without it, reaches only the enrolment page and
  logout (and the public pages): everything else redirects there (403 for the API and htmx).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse

from signin import policy, sessions, two_factor

# What an un-enrolled user under enforcement may still open (besides public pages).
ENROLMENT_VIEWS = frozenset({"signin:two_factor", "logout"})
ENROL_MESSAGE = "Your organisation requires two-factor sign-in: set up an authenticator app."


class SignInPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        is_api = request.path.startswith("/api/")
        if is_api and "HTTP_AUTHORIZATION" in request.META:
            return None  # a token request: DRF authenticates the token, not this session
        # DRF marks its views login_not_required (it authenticates them itself): not public.
        public = not is_api and getattr(view_func, "login_required", True) is False
        current = policy.current()
        now = time.time()
        reason = sessions.expiry_reason(request, current, now=now)
        if reason:
            logout(request)
            if is_api or public:
                return None  # DRF answers 401/403; a public page just renders
            messages.info(request, reason)
            return redirect_to_login(request.get_full_path())
        if sessions.STARTED not in request.session:
            sessions.adopt(request, user, has_two_factor=two_factor.has_two_factor(user))
        sessions.touch(request, now=now)
        if (
            current.requires_two_factor(user)
            and not request.session.get(sessions.TWO_FACTOR)
            and not public
            and getattr(request.resolver_match, "view_name", "") not in ENROLMENT_VIEWS
        ):
            return _to_enrolment(request, is_api=is_api)
        return None


def _to_enrolment(request: HttpRequest, *, is_api: bool) -> HttpResponseBase:
    if is_api:
        return JsonResponse({"detail": ENROL_MESSAGE}, status=403)
    url = reverse("signin:two_factor")
    if getattr(request, "htmx", False):
        return HttpResponse(ENROL_MESSAGE, status=403, headers={"HX-Redirect": url})
    return redirect(url)  # the enrolment page says why
