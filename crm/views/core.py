"""Core pages: dashboard, health check, notifications, settings index."""

from __future__ import annotations

from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from crm import selectors, services
from crm.http import AuthenticatedHttpRequest
from crm.models import JobRun


@require_GET
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    data = selectors.dashboard(user=request.user)
    return render(request, "crm/dashboard.html", {"dashboard": data})


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 naming the one that does not.

    `workers` says whether worker and beat are alive (a minute sweep ran in the last five
    minutes); it is reported, not part of the status: web serves pages without them.
    """
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(result == "ok" for result in checks.values())
    workers = _check_workers() if checks["database"] == "ok" else "unknown: database down"
    body = {"status": "ok" if healthy else "unavailable", **checks}
    body |= {"workers": workers, "version": settings.PLUMB_VERSION}
    return JsonResponse(body, status=200 if healthy else 503)


WORKERS_STALE_AFTER = timedelta(minutes=5)


def _check_workers() -> str:
    """ "ok" when a minute sweep (a beat entry every ≤ 60 s) started within five minutes:
    beat scheduled it and a worker ran it."""
    jobs = [
        str(entry["task"]).rsplit(".", 1)[-1].removesuffix("_task")
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if isinstance(entry["schedule"], int | float) and entry["schedule"] <= 60
    ]
    try:
        # One index lookup per minute job (JobRun's (job, -started_at) index).
        starts = [
            JobRun.objects.filter(job=job).values_list("started_at", flat=True).first()
            for job in jobs
        ]
    except Exception as error:
        return f"error: {type(error).__name__}"
    last = max((start for start in starts if start is not None), default=None)
    if last is None:
        return "unknown: no minute sweep has run yet"
    age = timezone.now() - last
    if age > WORKERS_STALE_AFTER:
        return f"stale: the last minute sweep started {int(age.total_seconds() // 60)} min ago"
    return "ok"


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


def _check_broker() -> str:
    try:
        with current_app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


@require_GET
@vary_on_headers("HX-Request")
def notifications(request: AuthenticatedHttpRequest) -> HttpResponse:
    items = selectors.notification_list(user=request.user)
    template = "crm/_notification_list.html" if request.htmx else "crm/notifications.html"
    return render(request, template, {"notifications": items})


@require_GET
def notification_bell(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "crm/_bell.html")


@require_POST
def mark_notifications_read(request: AuthenticatedHttpRequest) -> HttpResponse:
    services.mark_notifications_read(user=request.user)
    if request.htmx:
        return render(request, "crm/_bell.html", {"unread_notifications": 0})
    return redirect("crm:notifications")


@require_GET
def settings_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "crm/settings.html", {"job_runs": selectors.latest_job_runs()})
