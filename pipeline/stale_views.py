"""Settings → Follow-up (mounted under /settings/routing/, where the page has always been):
the sweeps' settings, the stale deals, the deals auto-closed as stale (reopen) and the
background jobs' last runs.

Managers and admins only (others get 403: a settings page, not records); only admins change
the settings. Deals are listed within the viewer's scope, and a reopen outside it is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import OrgSettings
from crm.permissions import is_admin, is_manager_or_admin, require
from crm.selectors import latest_job_runs
from leads import sweeps
from pipeline import stale
from pipeline.forms import FollowUpSettingsForm
from pipeline.models import Opportunity

MANAGERS_ONLY = "Only managers and admins manage routing and follow-up settings."


@require_http_methods(["GET", "POST"])
def follow_up(request: AuthenticatedHttpRequest) -> HttpResponse:
    """SLA / stale / zombie settings, stale deals, auto-closed deals (reopen), job runs.
    Invalid settings re-render with 422 and nothing saved."""
    require(is_manager_or_admin(request.user), MANAGERS_ONLY)
    form = FollowUpSettingsForm(request.POST or None, instance=OrgSettings.load())
    status = 200
    if request.method == "POST":
        require(is_admin(request.user), "Only admins change organisation settings.")
        if form.is_valid():
            try:
                sweeps.update_sweep_settings(
                    values={name: form.cleaned_data[name] for name in sweeps.SWEEP_SETTING_FIELDS},
                    by=request.user,
                )
            except ValidationError as error:
                add_validation_error(form, error)
            else:
                messages.success(request, "Settings saved.")
                return redirect("stale:follow_up")
        status = 422
    context = {
        "form": form,
        "stale_deals": stale.stale_opportunities(user=request.user, limit=50),
        "auto_closed": stale.auto_closed_opportunities(user=request.user),
        "job_runs": latest_job_runs(),
        "section": "settings",
    }
    return render(request, "pipeline/follow_up.html", context, status=status)


@require_POST
def reopen_deal(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Undo a stale auto-close (404 outside the user's scope)."""
    require(is_manager_or_admin(request.user), MANAGERS_ONLY)
    deal = get_object_or_404(Opportunity.objects.visible_to(request.user), pk=pk)
    try:
        deal = stale.reopen_opportunity(opportunity=deal, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"“{deal}” reopened in {deal.stage}.")
    return redirect("stale:follow_up")
