"""Settings → Routing & follow-up: assignment rules (with dry run), SLA / stale / zombie
settings, SLA attainment per rep, recent assignments and background job runs.

Managers and admins only (others get 403: these are settings pages, not records).
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from crm.http import AuthenticatedHttpRequest
from crm.models import OrgSettings, Team, User
from crm.selectors import latest_job_runs
from leads import assignment, sweeps
from leads.models import AssignmentLog, AssignmentRule, Lead
from pipeline import stale
from pipeline.models import Opportunity


def _require_manager(request: AuthenticatedHttpRequest) -> None:
    if not (request.user.is_admin or request.user.is_manager):
        raise PermissionDenied("Only managers and admins manage routing and follow-up settings.")


class ListField(forms.CharField):
    """Comma-separated values ↔ a list of trimmed, non-empty strings."""

    def prepare_value(self, value: object) -> object:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: object) -> list[str]:
        text = super().to_python(value)
        seen: dict[str, None] = {}
        for part in text.split(","):
            if part.strip():
                seen.setdefault(part.strip(), None)
        return list(seen)


class BootstrapMixin:
    """Bootstrap 5 classes on every widget (templates stay markup-only)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple):
                continue
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "form-check-input"
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                widget.attrs["class"] = "form-select form-select-sm"
            else:
                widget.attrs["class"] = "form-control form-control-sm"


class AssignmentRuleForm(BootstrapMixin, forms.ModelForm):
    regions = ListField(required=False, help_text="Comma-separated, e.g. EMEA, APAC.")
    countries = ListField(required=False, help_text="Comma-separated, e.g. DE, FR.")
    industries = ListField(required=False, help_text="Comma-separated.")
    sources = forms.MultipleChoiceField(
        choices=Lead.Source.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    target_team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    target_reps = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True, role=User.Role.REP),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    class Meta:
        model = AssignmentRule
        fields = [
            "name",
            "priority",
            "is_active",
            "is_fallback",
            "regions",
            "countries",
            "employee_min",
            "employee_max",
            "score_min",
            "score_max",
            "sources",
            "industries",
            "target_team",
            "target_reps",
            "method",
        ]

    def save_rule(self) -> AssignmentRule:
        """Hand the validated data to the service; service errors land on the form."""
        rule = self.save(commit=False)
        return assignment.save_rule(rule=rule, reps=self.cleaned_data["target_reps"])


class SweepSettingsForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = OrgSettings
        fields = list(sweeps.SWEEP_SETTING_FIELDS)
        labels = {
            "first_contact_sla_minutes": "First-contact SLA (minutes)",
            "sla_escalation_minutes": "Escalate to the manager after (minutes past the SLA)",
            "stale_escalate_after_days": "Escalate a stale deal after (days)",
            "stale_auto_close_after_days": "Auto-close a stale deal after (days; empty = never)",
            "zombie_lead_days": "Recycle MQL leads without engagement after (days)",
        }


def _add_errors(form: forms.BaseForm, error: ValidationError) -> None:
    for name, errors in error.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


@require_GET
def routing_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Rules in priority order, unroutable leads, SLA attainment, recent assignments."""
    _require_manager(request)
    days = _days(request.GET.get("days"))
    until = timezone.now()
    context = {
        "rules": assignment.active_rules_for_page(),
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
    _require_manager(request)
    rule = get_object_or_404(AssignmentRule, pk=pk) if pk else None
    form = AssignmentRuleForm(request.POST or None, instance=rule)
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = form.save_rule()
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, f"Rule “{saved}” saved.")
                return redirect("routing:index")
        return render(
            request,
            "leads/assignment/rule_form.html",
            {"form": form, "rule": rule, "section": "settings"},
            status=422,
        )
    return render(
        request,
        "leads/assignment/rule_form.html",
        {"form": form, "rule": rule, "section": "settings"},
    )


@require_POST
def rule_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Delete a rule (its log rows keep the rule's name)."""
    _require_manager(request)
    rule = get_object_or_404(AssignmentRule, pk=pk)
    assignment.delete_rule(rule=rule)
    messages.success(request, f"Rule “{rule}” deleted.")
    return redirect("routing:index")


@require_GET
@vary_on_headers("HX-Request")
def dry_run(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    """Who would get the next 20 matching leads (of one rule, or of all rules) and why."""
    _require_manager(request)
    rule = get_object_or_404(AssignmentRule, pk=pk) if pk else None
    plans = assignment.dry_run(rule=rule, limit=20)
    template = (
        "leads/assignment/_dry_run.html"
        if request.htmx and not request.htmx.boosted
        else "leads/assignment/dry_run.html"
    )
    return render(request, template, {"rule": rule, "plans": plans, "section": "settings"})


@require_http_methods(["GET", "POST"])
def sweep_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """SLA / stale / zombie settings, stale deals, auto-closed deals (reopen), job runs."""
    _require_manager(request)
    org = OrgSettings.load()
    form = SweepSettingsForm(request.POST or None, instance=org)
    status = 200
    if request.method == "POST":
        if not request.user.is_admin:
            raise PermissionDenied("Only admins change organisation settings.")
        if form.is_valid():
            try:
                sweeps.update_sweep_settings(
                    values={name: form.cleaned_data[name] for name in sweeps.SWEEP_SETTING_FIELDS},
                    by=request.user,
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, "Settings saved.")
                return redirect("routing:sweeps")
        status = 422
    context = {
        "form": form,
        "stale_deals": stale.stale_opportunities(user=request.user, limit=50),
        "auto_closed": stale.auto_closed_opportunities(user=request.user),
        "job_runs": latest_job_runs(),
        "section": "settings",
    }
    return render(request, "leads/assignment/sweeps.html", context, status=status)


@require_POST
def reopen_deal(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Undo a stale auto-close (404 outside the user's scope)."""
    _require_manager(request)
    deal = get_object_or_404(Opportunity.objects.visible_to(request.user), pk=pk)
    try:
        deal = stale.reopen_opportunity(opportunity=deal, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"“{deal}” reopened in {deal.stage}.")
    return redirect("routing:sweeps")
