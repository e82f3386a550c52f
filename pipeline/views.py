"""Board and deal pages, and pipeline settings: parse → selector or service → render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from activities import compose
from activities import services as activity_services
from activities.models import Activity
from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.permissions import is_manager_or_admin, require
from pipeline import selectors, services
from pipeline.forms import (
    ActivityForm,
    BoardFilterForm,
    LostReasonForm,
    MoveCardForm,
    NewOpportunityForm,
    OpportunityForm,
    PipelineForm,
    StageForm,
)
from pipeline.models import LostReason, Opportunity, Pipeline, Stage


def _filter_params(request: AuthenticatedHttpRequest) -> str:
    params = request.GET.copy()
    params.pop("after", None)
    return params.urlencode()


# --- Board -------------------------------------------------------------------------------


@require_GET
def board_default(request: AuthenticatedHttpRequest) -> HttpResponse:
    pipeline = selectors.default_pipeline()
    if pipeline is None:
        return render(request, "pipeline/no_pipeline.html")
    url = reverse("pipeline:board", args=[pipeline.pk])
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url)


@require_GET
def board(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The kanban board of one pipeline: a fixed number of queries at any size."""
    form = BoardFilterForm(request.GET)
    filters = form.filters()
    data = selectors.board(user=request.user, pipeline_id=pk, filters=filters)
    if data is None:
        raise Http404("No such pipeline.")
    # The shell prints the user's team; the people list already loaded it with the users.
    for person in data.people:
        if person.pk == request.user.pk:
            request.user.team = person.team
    params = _filter_params(request)
    context = {
        "board": data,
        "form": form,
        "filters": filters,
        "filter_params": params,
        "filter_qs": f"?{params}" if params else "",
        "pipeline_pk": pk,
    }
    return render(request, "pipeline/board.html", context)


@require_GET
def column_more(request: AuthenticatedHttpRequest, pk: int, stage_id: int) -> HttpResponse:
    """The next cards of one column (the `intersect once` sentinel asks for them)."""
    stage = get_object_or_404(
        Stage.objects.filter(pipeline_id=pk, kind=Stage.Kind.OPEN, is_archived=False), pk=stage_id
    )
    filters = BoardFilterForm(request.GET).filters()
    column = selectors.more_cards(
        user=request.user, stage=stage, filters=filters, after=request.GET.get("after", "")
    )
    params = _filter_params(request)
    context = {
        "column": column,
        "filter_params": params,
        "filter_qs": f"?{params}" if params else "",
        "pipeline_pk": pk,
    }
    return render(request, "pipeline/_cards.html", context)


@require_GET
def lost_reason_options(request: AuthenticatedHttpRequest) -> HttpResponse:
    reasons = LostReason.objects.filter(is_active=True)
    return render(request, "pipeline/_lost_reason_options.html", {"reasons": reasons})


def _moved_response(
    request: AuthenticatedHttpRequest,
    *,
    opportunity_pk: int,
    stages: dict[int, Stage],
    card: selectors.Card | None = None,
    relocate: bool,
    message: str = "",
    level: str = "info",
    status: int = 200,
) -> HttpResponse:
    """The card (in place, or re-inserted into its current column) plus every open column's
    header out-of-band, so totals can never drift from what the cards say.

    Rendered without the request: a fragment needs no context processors (and so no queries).
    """
    filters = BoardFilterForm(request.GET).filters()
    open_stages = {pk: s for pk, s in stages.items() if s.is_open}
    headers = selectors.stage_headers(
        user=request.user, stages=list(open_stages.values()), filters=filters
    )
    if card is None:
        cards = selectors.board_cards(user=request.user, pks=[opportunity_pk], stages=open_stages)
        card = cards.get(opportunity_pk)
    elif not card.stage.is_open:
        card = None  # won or lost: the card leaves the board
    params = _filter_params(request)
    context = {
        "card": card,
        "relocate": relocate,
        "headers": headers.values(),
        "message": message,
        "level": level,
        "filter_params": params,
        "filter_qs": f"?{params}" if params else "",
    }
    return HttpResponse(render_to_string("pipeline/_card_moved.html", context), status=status)


@require_POST
def move_card(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Drop or "Move to…": one service call; the response swaps the card and the headers.

    A stale version answers 409 with the card as it is now; a refused move (e.g. lost
    without a reason) answers 422 and puts the card back where it really is.
    """
    opportunity = get_object_or_404(selectors.card_source(user=request.user), pk=pk)
    stages = {
        s.pk: s
        for s in Stage.objects.filter(pipeline_id=opportunity.pipeline_id, is_archived=False)
    }
    form = MoveCardForm(request.POST, stages=stages)
    via = request.POST.get("via") or "drag"
    if not form.is_valid():
        error = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
        return _reply_refused(request, opportunity, stages, error, status=422)
    data = form.cleaned_data
    position = None
    if via == "menu" and data["stage"].pk != opportunity.stage_id:
        position = services.top_position(data["stage"])
    try:
        result = services.move_opportunity(
            opportunity=opportunity,
            to_stage=data["stage"],
            expected_version=data["version"],
            by=request.user,
            lost_reason=data["lost_reason"],
            lost_note=data["lost_note"],
            position=position,
            after_id=data["after_id"],
            before_id=data["before_id"],
        )
    except services.StaleOpportunity:
        return _reply_refused(
            request,
            opportunity,
            stages,
            "Someone else changed this deal first: the card now shows its current state.",
            status=409,
        )
    except ValidationError as error:
        return _reply_refused(request, opportunity, stages, " ".join(error.messages), status=422)
    moved = result.opportunity
    if not request.htmx:
        for warning in result.warnings:
            messages.warning(request, warning)
        return redirect("pipeline:opportunity", pk=moved.pk)
    if moved.stage.kind == Stage.Kind.WON:
        message, level = f"“{moved.name}” won.", "success"
    elif moved.stage.kind == Stage.Kind.LOST:
        message, level = f"“{moved.name}” marked lost.", "secondary"
    else:
        message, level = " ".join(result.warnings), "warning"
    return _moved_response(
        request,
        opportunity_pk=moved.pk,
        stages=stages,
        card=selectors.card_from(moved),
        relocate=via == "menu",
        message=message,
        level=level,
    )


def _reply_refused(
    request: AuthenticatedHttpRequest,
    opportunity: Opportunity,
    stages: dict[int, Stage],
    message: str,
    *,
    status: int,
) -> HttpResponse:
    if not request.htmx:
        messages.error(request, message)
        return redirect("pipeline:opportunity", pk=opportunity.pk)
    return _moved_response(
        request,
        opportunity_pk=opportunity.pk,
        stages=stages,
        relocate=True,
        message=message,
        level="warning" if status == 409 else "danger",
        status=status,
    )


# --- Deals -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def opportunity_new(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """ "+ deal" on a board column: the stage comes preselected from `?stage=`."""
    pipeline = get_object_or_404(Pipeline.objects.filter(is_archived=False), pk=pk)
    initial = {
        "stage": request.GET.get("stage"),
        "owner": request.user.pk,
        "account": request.GET.get("account"),
    }
    form = NewOpportunityForm(
        request.POST or None, user=request.user, pipeline=pipeline, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            deal = services.create_opportunity(
                by=request.user,
                pipeline=pipeline,
                name=data["name"],
                stage=data["stage"],
                owner=data["owner"],
                account=data["account"],
                amount=data["amount"],
                expected_close_date=data["expected_close_date"],
                deal_type=data["deal_type"] or None,
                forecast_category=data["forecast_category"] or None,
                next_step=data["next_step"],
                next_step_date=data["next_step_date"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Deal “{deal.name}” created.")
            return redirect("pipeline:board", pk=pipeline.pk)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "pipeline/opportunity_form.html",
        {"form": form, "pipeline": pipeline},
        status=status,
    )


@require_GET
def opportunity_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    opportunity = get_object_or_404(selectors.opportunity_for(user=request.user), pk=pk)
    return _deal_page(request, opportunity, ActivityForm())


def _deal_page(
    request: AuthenticatedHttpRequest,
    opportunity: Opportunity,
    activity_form: ActivityForm,
    *,
    status: int = 200,
) -> HttpResponse:
    detail = selectors.opportunity_detail(user=request.user, opportunity=opportunity)
    email = compose.compose_context(
        request=request,
        record=opportunity,
        action=reverse("pipeline:opportunity_email", args=[opportunity.pk]),
    )
    context = {
        "detail": detail,
        "deal": opportunity,
        "activity_form": activity_form,
        "compose": email,
    }
    return render(request, "pipeline/opportunity_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
def opportunity_email(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Send an e-mail from a deal to its people (activities.compose)."""
    opportunity = get_object_or_404(selectors.opportunity_for(user=request.user), pk=pk)
    return compose.compose_email(
        request,
        record=opportunity,
        action=reverse("pipeline:opportunity_email", args=[pk]),
        back=reverse("pipeline:opportunity", args=[pk]),
    )


@require_http_methods(["GET", "POST"])
def opportunity_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    opportunity = get_object_or_404(selectors.opportunity_for(user=request.user), pk=pk)
    version = opportunity.version
    form = OpportunityForm(
        request.POST or None, instance=Opportunity.objects.get(pk=pk), user=request.user
    )
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            services.update_opportunity(
                opportunity=opportunity,
                by=request.user,
                expected_version=int(request.POST.get("version") or version),
                **changes,
            )
        except services.StaleOpportunity:
            form.add_error(None, "Someone else changed this deal meanwhile: reload and retry.")
            return render(
                request,
                "pipeline/opportunity_edit.html",
                {"form": form, "deal": opportunity},
                status=409,
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Deal saved.")
            return redirect("pipeline:opportunity", pk=pk)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "pipeline/opportunity_edit.html",
        {"form": form, "deal": opportunity},
        status=status,
    )


@require_POST
def opportunity_activity(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Log an activity or schedule a task on a deal (activities.services.create_activity)."""
    opportunity = get_object_or_404(selectors.opportunity_for(user=request.user), pk=pk)
    form = ActivityForm(request.POST)
    if form.is_valid():
        try:
            activity_services.create_activity(
                by=request.user, opportunity=opportunity, **form.cleaned_data
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Logged.")
            return redirect("pipeline:opportunity", pk=pk)
    return _deal_page(request, opportunity, form, status=422)


@require_POST
def task_done(request: AuthenticatedHttpRequest, pk: int, task_id: int) -> HttpResponse:
    opportunity = get_object_or_404(Opportunity.objects.visible_to(request.user), pk=pk)
    task = get_object_or_404(
        Activity.objects.open_tasks().filter(opportunity=opportunity), pk=task_id
    )
    activity_services.complete_task(activity=task, by=request.user)
    messages.success(request, f"Task “{task.subject}” done.")
    return redirect("pipeline:opportunity", pk=pk)


# --- Settings: pipelines, stages, lost reasons ---------------------------------------------


PIPELINE_SETTINGS = "Only managers and admins configure pipelines."


@require_http_methods(["GET", "POST"])
def pipeline_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    require(is_manager_or_admin(request.user), PIPELINE_SETTINGS)
    form = PipelineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            pipeline = services.create_pipeline(
                by=request.user,
                name=form.cleaned_data["name"],
                is_default=form.cleaned_data["is_default"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Pipeline “{pipeline.name}” created: add its stages.")
            return redirect("pipeline:settings_pipeline", pk=pipeline.pk)
    pipelines = Pipeline.objects.order_by("is_archived", "order", "name")
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "pipeline/settings_pipelines.html",
        {"form": form, "pipelines": pipelines},
        status=status,
    )


def _pipeline_page(
    request: AuthenticatedHttpRequest,
    pipeline: Pipeline,
    *,
    form: PipelineForm | None = None,
    stage_form: StageForm | None = None,
    stage_errors: dict[int, StageForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    stages = list(pipeline.stages.order_by("order", "pk"))
    errors = stage_errors or {}
    rows = [
        (
            stage,
            errors.get(stage.pk)
            or StageForm(instance=stage, prefix=f"s{stage.pk}", form_id=f"stage-form-{stage.pk}"),
        )
        for stage in stages
    ]
    context = {
        "pipeline": pipeline,
        "form": form
        or PipelineForm(initial={"name": pipeline.name, "is_default": pipeline.is_default}),
        "stage_form": stage_form or StageForm(prefix="new"),
        "rows": rows,
    }
    return render(request, "pipeline/settings_pipeline.html", context, status=status)


@require_http_methods(["GET", "POST"])
def pipeline_settings_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(is_manager_or_admin(request.user), PIPELINE_SETTINGS)
    pipeline = get_object_or_404(Pipeline, pk=pk)
    if request.method == "GET":
        return _pipeline_page(request, pipeline)
    action = request.POST.get("action", "save")
    try:
        if action == "archive":
            services.archive_pipeline(pipeline=pipeline, by=request.user)
            messages.success(request, f"Pipeline “{pipeline.name}” archived.")
            return redirect("pipeline:settings")
        form = PipelineForm(request.POST)
        if not form.is_valid():
            return _pipeline_page(request, pipeline, form=form, status=422)
        services.update_pipeline(
            pipeline=pipeline,
            by=request.user,
            name=form.cleaned_data["name"],
            is_default=form.cleaned_data["is_default"] or None,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        pipeline.refresh_from_db()
        return _pipeline_page(request, pipeline, status=422)
    messages.success(request, "Pipeline saved.")
    return redirect("pipeline:settings_pipeline", pk=pk)


@require_POST
def stage_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(is_manager_or_admin(request.user), PIPELINE_SETTINGS)
    pipeline = get_object_or_404(Pipeline, pk=pk)
    form = StageForm(request.POST, prefix="new")
    if form.is_valid():
        data = dict(form.cleaned_data)
        try:
            services.add_stage(pipeline=pipeline, by=request.user, **data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Stage “{data['name']}” added.")
            return redirect("pipeline:settings_pipeline", pk=pk)
    return _pipeline_page(request, pipeline, stage_form=form, status=422)


@require_POST
def stage_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Save, archive, restore or delete one stage (the button pressed says which)."""
    require(is_manager_or_admin(request.user), PIPELINE_SETTINGS)
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=pk)
    pipeline = stage.pipeline
    action = request.POST.get("action", "save")
    form = StageForm(
        request.POST,
        instance=Stage.objects.get(pk=pk),
        prefix=f"s{pk}",
        form_id=f"stage-form-{pk}",
    )
    try:
        if action == "archive":
            services.archive_stage(stage=stage, by=request.user)
        elif action == "restore":
            services.archive_stage(stage=stage, by=request.user, archived=False)
        elif action == "delete":
            services.delete_stage(stage=stage, by=request.user)
        elif form.is_valid():
            services.update_stage(stage=stage, by=request.user, **form.cleaned_data)
        else:
            return _pipeline_page(request, pipeline, stage_errors={pk: form}, status=422)
    except ValidationError as error:
        messages.error(request, f"{stage.name}: {' '.join(error.messages)}")
        return _pipeline_page(request, pipeline, status=422)
    messages.success(request, f"Stage {action}d." if action != "save" else "Stage saved.")
    return redirect("pipeline:settings_pipeline", pk=pipeline.pk)


@require_POST
def stages_reorder(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Drag-reordered stage ids from the settings page (htmx): 204 or 422 with the reason."""
    require(is_manager_or_admin(request.user), PIPELINE_SETTINGS)
    pipeline = get_object_or_404(Pipeline, pk=pk)
    try:
        ids = [int(value) for value in request.POST.getlist("stage")]
        services.reorder_stages(pipeline=pipeline, by=request.user, stage_ids=ids)
    except (ValueError, ValidationError) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else "Bad stage id."
        return HttpResponse(text, status=422)
    return HttpResponse(status=204)


@require_http_methods(["GET", "POST"])
def lost_reasons(request: AuthenticatedHttpRequest) -> HttpResponse:
    require(is_manager_or_admin(request.user), PIPELINE_SETTINGS)
    form = LostReasonForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        pk = request.POST.get("reason")
        reason = get_object_or_404(LostReason, pk=pk) if pk else None
        try:
            services.save_lost_reason(by=request.user, reason=reason, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Lost reason saved.")
            return redirect("pipeline:lost_reasons")
    status = 422 if request.method == "POST" else 200
    reasons = LostReason.objects.all()
    return render(
        request,
        "pipeline/settings_lost_reasons.html",
        {"form": form, "reasons": reasons},
        status=status,
    )
