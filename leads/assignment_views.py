"""Settings → Lead routing: assignment rules (with dry run), SLA attainment per rep, recent
assignments. The Follow-up page beside it (sweep settings, stale deals) is pipeline's
(pipeline/stale_views.py), mounted under the same /settings/routing/ prefix.

Managers and admins only (others get 403: these are settings pages, not records).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import OrgSettings
from crm.permissions import is_manager_or_admin, require
from leads import assignment, assignment_rules, sweeps
from leads.assignment_forms import AssignmentRuleForm
from leads.models import AssignmentLog, AssignmentRule, Lead

MANAGERS_ONLY = "Only managers and admins manage routing and follow-up settings."


@require_GET
def routing_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Rules in priority order, unroutable leads, SLA attainment, recent assignments."""
    require(is_manager_or_admin(request.user), MANAGERS_ONLY)
    days = _days(request.GET.get("days"))
    until = timezone.now()
    context = {
        "rules": assignment_rules.rules_for_page(),
        "unassignable": assignment.unassignable_count(),
        "attainment": sweeps.sla_attainment(
            user=request.user, since=until - timedelta(days=days), until=until
        ),
        "days": days,
        "recent": AssignmentLog.objects.filter(
            lead__in=Lead.objects.visible_to(request.user).values("pk")
        ).select_related("lead", "rep")[:20],
        "org": OrgSettings.load(),
        "section": "settings",
    }
    return render(request, "leads/assignment/index.html", context)


def _days(raw: str | None) -> int:
    try:
        return min(max(int(raw or 30), 1), 365)
    except ValueError:
        return 30


@require_http_methods(["GET", "POST"])
def rule_edit(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    """Create (pk None) or edit a rule. Invalid input re-renders with 422, nothing saved."""
    require(is_manager_or_admin(request.user), MANAGERS_ONLY)
    rule = get_object_or_404(AssignmentRule, pk=pk) if pk else None
    form = AssignmentRuleForm(request.POST or None, instance=rule)
    context = {"form": form, "rule": rule, "section": "settings"}
    if request.method == "GET":
        return render(request, "leads/assignment/rule_form.html", context)
    if form.is_valid():
        try:
            saved = assignment_rules.save_rule(
                rule=form.save(commit=False),
                reps=form.cleaned_data["target_reps"],
                by=request.user,
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Rule “{saved}” saved.")
            return redirect("routing:index")
    return render(request, "leads/assignment/rule_form.html", context, status=422)


@require_POST
def rule_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Delete a rule (its log rows keep the rule's name)."""
    require(is_manager_or_admin(request.user), MANAGERS_ONLY)
    rule = get_object_or_404(AssignmentRule, pk=pk)
    assignment_rules.delete_rule(rule=rule, by=request.user)
    messages.success(request, f"Rule “{rule}” deleted.")
    return redirect("routing:index")


@require_GET
@vary_on_headers("HX-Request")
def dry_run(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    """Who would get the next 20 matching leads (of one rule, or of all rules) and why."""
    require(is_manager_or_admin(request.user), MANAGERS_ONLY)
    rule = get_object_or_404(AssignmentRule, pk=pk) if pk else None
    plans = assignment.dry_run(rule=rule, limit=20)
    template = (
        "leads/assignment/_dry_run.html"
        if request.htmx and not request.htmx.boosted
        else "leads/assignment/dry_run.html"
    )
    return render(request, template, {"rule": rule, "plans": plans, "section": "settings"})
