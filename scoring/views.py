"""Scoring pages: settings (rules table with inline add/edit/disable, threshold, decay,
preview, rescore progress) and the backtest. Marketing and admins edit; others read."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import OrgSettings
from crm.permissions import is_marketing_or_admin, require
from scoring import selectors, services
from scoring.engine import Rule
from scoring.forms import BacktestForm, RuleForm, ScoringSettingsForm
from scoring.models import ScoringRule


def _require_editor(request: AuthenticatedHttpRequest) -> None:
    """Marketing owns the scoring model; admins may change it too. Everyone else reads."""
    require(is_marketing_or_admin(request.user), "Only marketing and admins change scoring.")


def _settings_initial(org: OrgSettings) -> dict[str, int]:
    return {
        "mql_threshold": org.mql_threshold,
        "decay_percent": org.engagement_decay_percent,
        "decay_days": org.engagement_decay_days,
    }


def _page_context(request: AuthenticatedHttpRequest, **extra: Any) -> dict[str, Any]:
    org = OrgSettings.load()
    return {
        "rules": list(selectors.rule_list()),
        "can_edit": is_marketing_or_admin(request.user),
        "rule_form": RuleForm(initial={"category": "engagement", "active": True}),
        "settings_form": ScoringSettingsForm(initial=_settings_initial(org)),
        "job": selectors.latest_rescore_job(),
        "version": selectors.latest_version(),
        "org": org,
        **extra,
    }


def _changed(response: HttpResponse) -> HttpResponse:
    """A write that changed the scoring model: the page's Recent changes card reloads itself
    (it listens for this htmx event)."""
    return trigger_client_event(response, "scoringChanged")


@require_GET
def scoring_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "scoring/settings.html", _page_context(request))


@require_POST
def add_rule(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Returns a fresh form plus the rules table and progress out of band; 422 with errors."""
    _require_editor(request)
    form = RuleForm(request.POST)
    if form.is_valid():
        try:
            services.create_rule(by=request.user, **form.rule_fields())
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            context = _page_context(request, added=True)
            return _changed(render(request, "scoring/_rule_added.html", context))
    return render(
        request, "scoring/_rule_form.html", {"rule_form": form, "can_edit": True}, status=422
    )


@require_GET
def rule_row(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(ScoringRule, pk=pk)
    return render(
        request,
        "scoring/_rule_row.html",
        {"rule": rule, "can_edit": is_marketing_or_admin(request.user)},
    )


def edit_rule(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET: the row as inline inputs. POST: save and return the display row (+ progress)."""
    _require_editor(request)
    rule = get_object_or_404(ScoringRule, pk=pk)
    if request.method == "GET":
        form = RuleForm(initial=RuleForm.initial_for(rule), auto_id=f"rule-{pk}-%s")
        return render(request, "scoring/_rule_edit_row.html", {"rule": rule, "form": form})
    if request.method != "POST":
        return HttpResponse(status=405)
    form = RuleForm(request.POST, auto_id=f"rule-{pk}-%s")
    if form.is_valid():
        try:
            rule = services.update_rule(rule=rule, by=request.user, **form.rule_fields())
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            context = {
                "rule": rule,
                "can_edit": True,
                "job": selectors.latest_rescore_job(),
                "oob": True,
            }
            return _changed(render(request, "scoring/_rule_saved.html", context))
    return render(request, "scoring/_rule_edit_row.html", {"rule": rule, "form": form}, status=422)


@require_POST
def toggle_rule(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Disable an active rule or enable a disabled one."""
    _require_editor(request)
    rule = get_object_or_404(ScoringRule, pk=pk)
    rule = services.update_rule(rule=rule, by=request.user, active=not rule.active)
    context = {"rule": rule, "can_edit": True, "job": selectors.latest_rescore_job(), "oob": True}
    return _changed(render(request, "scoring/_rule_saved.html", context))


@require_POST
def delete_rule(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    _require_editor(request)
    rule = get_object_or_404(ScoringRule, pk=pk)
    services.delete_rule(rule=rule, by=request.user)
    context = {"job": selectors.latest_rescore_job(), "oob": True}
    return _changed(render(request, "scoring/_rule_deleted.html", context))


@require_POST
def preview(request: AuthenticatedHttpRequest) -> HttpResponse:
    """How many current leads would be MQL with the edited rule (nothing is saved).
    `rule_id` set = the edit replaces that rule; else the rule is added."""
    _require_editor(request)
    form = RuleForm(request.POST)
    error = None
    org = OrgSettings.load()
    threshold = org.mql_threshold
    raw_threshold = request.POST.get("mql_threshold", "")
    if raw_threshold.isdigit() and int(raw_threshold) > 0:
        threshold = int(raw_threshold)
    rules = [Rule.from_row(r) for r in ScoringRule.objects.filter(active=True)]
    replaced = request.POST.get("rule_id", "")
    if replaced.isdigit():
        rules = [r for r in rules if r.rule_id != int(replaced)]
    if form.is_valid():
        candidate = ScoringRule(**form.rule_fields())
        if replaced.isdigit():
            candidate.pk = int(replaced)
        try:
            services.clean_rule(candidate)
        except ValidationError as exc:
            error = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        else:
            if candidate.active:
                rules.append(Rule.from_row(candidate))
    else:
        error = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
    result = None if error else selectors.preview_mql(rules=rules, threshold=threshold)
    return render(request, "scoring/_preview.html", {"preview": result, "error": error})


@require_POST
def save_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_editor(request)
    form = ScoringSettingsForm(request.POST)
    if form.is_valid():
        try:
            services.update_settings(by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            context = {
                "settings_form": form,
                "saved": True,
                "job": selectors.latest_rescore_job(),
                "oob": True,
                "can_edit": True,
            }
            return _changed(render(request, "scoring/_settings_form.html", context))
    return render(
        request,
        "scoring/_settings_form.html",
        {"settings_form": form, "can_edit": True},
        status=422,
    )


@require_GET
def progress(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "scoring/_progress.html", {"job": selectors.latest_rescore_job()})


@require_GET
def changes(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The settings page's "Recent changes" card (an htmx fragment): who changed which rule or
    the threshold, when, and how. For the editors, like the backtest."""
    _require_editor(request)
    return render(request, "scoring/_changes.html", {"changes": selectors.scoring_changes()})


@require_GET
def backtest(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Marketing and admins only: it aggregates every lead in the period, whoever owns it."""
    _require_editor(request)
    form = BacktestForm(request.GET or None, initial=BacktestForm.default_initial())
    result = None
    status = 200
    if not request.GET:
        initial = BacktestForm.default_initial()
        result = selectors.backtest(start=initial["start"], end=initial["end"])
    elif form.is_valid():
        result = selectors.backtest(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    else:
        status = 422
    return render(request, "scoring/backtest.html", {"form": form, "result": result}, status=status)
