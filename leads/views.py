"""Lead pages: the list (filters, search, sort, bulk actions, CSV export), the lead page
(lifecycle, BANT, conversion, activities, edit) and marketing's CSV import.

Views parse → call a selector or service → render; rules live in leads.services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from activities import compose
from activities.services import create_activity
from crm.csv_export import csv_response
from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import User
from crm.permissions import is_marketing_or_admin, require
from leads import csv_import, forms, selectors, services
from leads.models import CsvColumnMapping, Lead, LeadCsvUpload, LeadReason
from pipeline.models import Opportunity
from scoring.selectors import lead_score_panel

PAGE_SIZE = 50


# --- List ----------------------------------------------------------------------------------


def _filter_form(request: AuthenticatedHttpRequest) -> forms.LeadFilterForm:
    data = request.GET.copy()
    # Reps land on "My leads" (an explicit empty owner= shows everything they can see).
    if "owner" not in data and request.user.role == User.Role.REP:
        data["owner"] = "me"
    return forms.LeadFilterForm(data, user=request.user)


@require_GET
@vary_on_headers("HX-Request")
def lead_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = _filter_form(request)
    filters = form.cleaned_filters()
    leads = selectors.filter_leads(user=request.user, filters=filters)
    page = Paginator(leads, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    context = {
        "form": form,
        "page": page,
        "sort": filters.get("sort") or selectors.DEFAULT_SORT,
        "querystring": query.urlencode(),
        "sort_querystring": sort_query.urlencode(),
        "bulk_form": forms.BulkActionForm(user=request.user),
        "stages": Lead.Lifecycle,
    }
    is_fragment = bool(request.htmx and not request.htmx.boosted)
    context["is_fragment"] = is_fragment
    return render(request, "leads/_table.html" if is_fragment else "leads/list.html", context)


@require_GET
def export_csv(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    """The filtered list as CSV (every page, not just the one shown), streamed."""
    filters = _filter_form(request).cleaned_filters()
    leads = selectors.filter_leads(user=request.user, filters=filters)
    columns = [
        ("id", "id"),
        ("first_name", "first_name"),
        ("last_name", "last_name"),
        ("email", "email"),
        ("company", "company"),
        ("title", "title"),
        ("phone", "phone"),
        ("stage", "stage"),
        ("score", "score"),
        ("source", "source"),
        ("owner", "owner__username"),
        ("country", "country"),
        ("created_at", "created_at"),
    ]

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    rows = leads.values_list(*[path for _, path in columns]).iterator(2000)
    return csv_response(f"leads-{stamp}.csv", [name for name, _ in columns], rows)


@require_POST
def bulk_action(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Assign, change stage or disqualify the checked leads (only those the user can see)."""
    form = forms.BulkActionForm(request.POST, user=request.user)
    back = reverse("leads:list") + "?" + request.POST.get("querystring", "")
    if not form.is_valid():
        errors = "; ".join(" ".join(map(str, e)) for e in form.errors.values())
        messages.error(request, f"Bulk action not applied: {errors}")
        return redirect(back)
    data = form.cleaned_data
    ids = list(
        Lead.objects.visible_to(request.user)
        .filter(pk__in=data["ids"])
        .values_list("pk", flat=True)
    )
    try:
        if data["action"] == "assign":
            moved = services.assign_leads(lead_ids=ids, owner=data["owner"], by=request.user)
            verb = f"assigned to {data['owner']}"
        elif data["action"] == "stage":
            moved = services.transition_leads(lead_ids=ids, to=data["stage"], by=request.user)
            verb = f"moved to {Lead.Lifecycle(data['stage']).label}"
        else:
            moved = services.transition_leads(
                lead_ids=ids,
                to=Lead.Lifecycle.DISQUALIFIED,
                by=request.user,
                reason=data["reason"].label,
            )
            verb = "disqualified"
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    skipped = len(data["ids"]) - len(moved)
    text = f"{len(moved)} lead(s) {verb}."
    if skipped:
        text += f" {skipped} skipped (their stage does not allow it, or SRL needs an owner)."
    messages.success(request, text)
    return redirect(back)


# --- Lead page -----------------------------------------------------------------------------


def _lead_or_404(request: AuthenticatedHttpRequest, pk: int) -> Lead:
    return get_object_or_404(
        Lead.objects.visible_to(request.user).select_related("owner", "account"), pk=pk
    )


def _detail_context(request: AuthenticatedHttpRequest, lead: Lead, **forms_: Any) -> dict[str, Any]:
    bant_initial = {}
    for item in Lead.BANT:
        bant_initial[f"{item}_confirmed"] = getattr(lead, f"{item}_confirmed")
        bant_initial[f"{item}_note"] = getattr(lead, f"{item}_note")
    edit_initial = {name: getattr(lead, name) for name in forms.LeadEditForm.FIELDS}
    reasons = LeadReason.objects.filter(is_active=True)
    moves = services.allowed_transitions(lead=lead, reasons=reasons)
    return {
        "lead": lead,
        "score_panel": lead_score_panel(lead=lead),
        "timeline": selectors.lead_timeline(lead=lead),
        "opportunities": list(
            Opportunity.objects.visible_to(request.user)
            .filter(lead=lead)
            .select_related("stage", "pipeline")
        ),
        # The lifecycle card offers exactly the moves the service allows (conversion has its
        # own form: it creates the opportunity).
        "moves": [move for move in moves if not move.converts],
        "can_convert": any(move.converts for move in moves),
        "transition_form": forms_.get("transition_form") or forms.TransitionForm(),
        "bant_form": forms_.get("bant_form") or forms.BantForm(initial=bant_initial),
        "convert_form": forms_.get("convert_form") or forms.ConvertForm(),
        "activity_form": forms_.get("activity_form") or forms.ActivityForm(),
        "edit_form": forms_.get("edit_form") or forms.LeadEditForm(initial=edit_initial),
        "assign_form": forms_.get("assign_form")
        or forms.AssignForm(user=request.user, initial={"owner": lead.owner_id}),
        "compose": compose.compose_context(
            request=request, record=lead, action=reverse("leads:email", args=[lead.pk])
        ),
    }


@require_GET
def lead_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    return render(request, "leads/detail.html", _detail_context(request, lead))


def _rerender(request: AuthenticatedHttpRequest, lead: Lead, **forms_: Any) -> HttpResponse:
    """Invalid input: the lead page again with the form's errors, status 422."""
    return render(
        request, "leads/detail.html", _detail_context(request, lead, **forms_), status=422
    )


@require_POST
def transition(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    form = forms.TransitionForm(request.POST)
    if not form.is_valid():
        return _rerender(request, lead, transition_form=form)
    try:
        services.transition_lead(lead=lead, by=request.user, **form.cleaned_data)
    except services.InvalidTransition as error:
        messages.error(request, error.detail)
        form.add_error(None, error.detail)
        return _rerender(request, lead, transition_form=form)
    messages.success(request, f"Lead moved to {Lead.Lifecycle(form.cleaned_data['to']).label}.")
    return redirect("leads:detail", pk=lead.pk)


@require_POST
def convert(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    form = forms.ConvertForm(request.POST)
    if not form.is_valid():
        return _rerender(request, lead, convert_form=form)
    try:
        opportunity = services.convert_lead(lead=lead, by=request.user, **form.cleaned_data)
    except services.InvalidTransition as error:
        form.add_error(None, error.detail)
        return _rerender(request, lead, convert_form=form)
    except ValidationError as error:
        add_validation_error(form, error)
        return _rerender(request, lead, convert_form=form)
    messages.success(
        request, f"Converted: opportunity “{opportunity.name}” on account {opportunity.account}."
    )
    return redirect("leads:detail", pk=lead.pk)


@require_POST
def record_bant(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    form = forms.BantForm(request.POST)
    if not form.is_valid():
        return _rerender(request, lead, bant_form=form)
    try:
        services.record_bant(lead=lead, by=request.user, answers=form.cleaned_data)
    except ValidationError as error:
        add_validation_error(form, error)
        return _rerender(request, lead, bant_form=form)
    messages.success(request, "BANT saved.")
    return redirect("leads:detail", pk=lead.pk)


@require_POST
def add_activity(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    form = forms.ActivityForm(request.POST)
    if not form.is_valid():
        return _rerender(request, lead, activity_form=form)
    try:
        create_activity(
            by=request.user, lead=lead, owner=lead.owner or request.user, **form.cleaned_data
        )
    except ValidationError as error:
        add_validation_error(form, error)
        return _rerender(request, lead, activity_form=form)
    messages.success(request, "Activity added.")
    return redirect("leads:detail", pk=lead.pk)


@require_http_methods(["GET", "POST"])
def compose_email(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Send an e-mail to the lead (activities.compose: the card, templates, the service)."""
    lead = _lead_or_404(request, pk)
    return compose.compose_email(
        request,
        record=lead,
        action=reverse("leads:email", args=[pk]),
        back=reverse("leads:detail", args=[pk]),
    )


@require_POST
def edit_lead(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    initial = {name: getattr(lead, name) for name in forms.LeadEditForm.FIELDS}
    form = forms.LeadEditForm(request.POST, initial=initial)
    if not form.is_valid():
        return _rerender(request, lead, edit_form=form)
    values = form.changed_values()
    if "external_id" in values and not values["external_id"]:
        values["external_id"] = None
    try:
        services.update_lead(lead=lead, by=request.user, data=values)
    except ValidationError as error:
        add_validation_error(form, error)
        return _rerender(request, lead, edit_form=form)
    messages.success(request, "Lead saved.")
    return redirect("leads:detail", pk=lead.pk)


@require_POST
def assign(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    lead = _lead_or_404(request, pk)
    form = forms.AssignForm(request.POST, user=request.user)
    if not form.is_valid():
        return _rerender(request, lead, assign_form=form)
    services.assign_leads(lead_ids=[lead.pk], owner=form.cleaned_data["owner"], by=request.user)
    messages.success(request, f"Assigned to {form.cleaned_data['owner']}.")
    return redirect("leads:detail", pk=lead.pk)


# --- CSV import (marketing and admins) -----------------------------------------------------


def _require_importer(request: AuthenticatedHttpRequest) -> None:
    require(is_marketing_or_admin(request.user), "Only marketing and admins import leads.")


def _upload_or_404(request: AuthenticatedHttpRequest, pk: int) -> LeadCsvUpload:
    qs = LeadCsvUpload.objects.all()
    if not request.user.is_admin:
        qs = qs.filter(created_by=request.user)
    return get_object_or_404(qs, pk=pk)


@require_http_methods(["GET", "POST"])
def import_upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Step 1: upload a CSV file."""
    _require_importer(request)
    form = forms.CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload_file = form.cleaned_data["file"]
        try:
            content, headers = csv_import.parse_upload(
                upload_file.read(csv_import.MAX_CSV_BYTES + 1)
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            upload = LeadCsvUpload.objects.create(
                filename=upload_file.name[:255],
                content=content,
                columns=csv_import.auto_map(headers),
                match_on=form.cleaned_data["match_on"],
                created_by=request.user,
            )
            return redirect("leads:import_map", pk=upload.pk)
    status = 422 if request.method == "POST" else 200
    recent = LeadCsvUpload.objects.filter(created_by=request.user).defer("content")[:10]
    return render(request, "leads/import.html", {"form": form, "recent": recent}, status=status)


@require_http_methods(["GET", "POST"])
def import_map(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Step 2: map columns (auto-matched, or a saved mapping), then preview the counts."""
    _require_importer(request)
    upload = _upload_or_404(request, pk)
    headers, rows = csv_import.read_csv(upload.content)
    initial_map = upload.columns
    if (saved_id := request.GET.get("mapping", "")).isdigit():
        saved = CsvColumnMapping.objects.filter(pk=saved_id).first()
        if saved is not None:
            initial_map = {h: saved.columns.get(h, "") for h in headers}
    # Bound on every POST, even one without a single field (`request.POST or None` left such a
    # form unbound: a 422 with no message).
    data = request.POST if request.method == "POST" else None
    form = forms.CsvMappingForm(data, headers=headers, initial_map=initial_map)
    preview = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload.columns = form.column_map()
            upload.save(update_fields=["columns"])
            if name := form.cleaned_data["save_as"].strip():
                CsvColumnMapping.objects.update_or_create(
                    name=name, defaults={"columns": upload.columns, "created_by": request.user}
                )
            if upload.match_on not in upload.columns.values():
                label = dict(csv_import.FIELD_CHOICES).get(upload.match_on, upload.match_on)
                form.add_error(None, f"Map a column to {label}: this import matches on it.")
                status = 422
            else:
                preview = csv_import.run_csv_import(upload=upload, by=request.user, dry_run=True)
        else:
            status = 422
    context = {
        "upload": upload,
        "form": form,
        "headers": headers,
        "column_rows": [
            (form[f"col_{i}"], [row[i] for row in rows[:3] if i < len(row)])
            for i in range(len(headers))
        ],
        "row_count": len(rows),
        "preview": preview,
        "mappings": CsvColumnMapping.objects.all(),
    }
    return render(request, "leads/import_map.html", context, status=status)


@require_POST
def import_run(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Step 3: import with the mapping previewed; show the report."""
    _require_importer(request)
    upload = _upload_or_404(request, pk)
    if upload.imported_at is None:
        csv_import.run_csv_import(upload=upload, by=request.user, dry_run=False)
    return redirect("leads:import_report", pk=upload.pk)


@require_GET
def import_report(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    _require_importer(request)
    upload = _upload_or_404(request, pk)
    return render(request, "leads/import_report.html", {"upload": upload})


@require_GET
def import_failed_csv(request: AuthenticatedHttpRequest, pk: int) -> StreamingHttpResponse:
    _require_importer(request)
    upload = _upload_or_404(request, pk)
    header, rows = csv_import.failed_rows_table(upload)
    return csv_response(f"failed-rows-{upload.pk}.csv", header, rows)
