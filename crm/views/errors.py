"""Error pages that explain themselves: too-large bodies (413), bad requests, login lockout."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.views.defaults import page_not_found
from django.views.defaults import server_error as default_server_error


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.META.get(
        "HTTP_ACCEPT", ""
    )


def too_large(request: HttpRequest, *, limit: int | None = None) -> HttpResponse:
    """413 naming the limit, as JSON for the API and as a page for browsers."""
    size = f" (limit {filesizeformat(limit)})" if limit else ""
    detail = f"The request is too large{size}. Split the upload into smaller files or batches."
    if _wants_json(request):
        return JsonResponse({"detail": detail}, status=413)
    return render(request, "crm/error.html", {"title": "Too large", "detail": detail}, status=413)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: Django's size limits become 413 with a message; the rest a clear 400."""
    if isinstance(exception, RequestDataTooBig):
        return too_large(request, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        detail = "The request has too many fields or files."
        if _wants_json(request):
            return JsonResponse({"detail": detail}, status=413)
        context = {"title": "Too large", "detail": detail}
        return render(request, "crm/error.html", context, status=413)
    detail = "The request could not be understood."
    if _wants_json(request):
        return JsonResponse({"detail": detail}, status=400)
    return render(request, "crm/error.html", {"title": "Bad request", "detail": detail}, status=400)


def login_locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' lockout response: the login page with a clear message, 429, Retry-After."""
    cool_off = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    minutes = max(1, round(seconds / 60)) if seconds else None
    when = f"in {minutes} minute{'s' if minutes != 1 else ''}" if minutes else "later"
    message = (
        "Too many failed log-in attempts for this username from your address. "
        f"Try again {when}, or ask an admin to unlock your account."
    )
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    response = render(
        request,
        "registration/login.html",
        {"form": form, "locked_out_message": message, "next": request.POST.get("next", "")},
        status=429,
    )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: JSON under /api/ (clients parse it), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/, the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error. It has been logged."}, status=500)
    return default_server_error(request)
