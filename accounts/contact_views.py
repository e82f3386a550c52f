"""Contact pages (mounted at /contacts/): the list (search, account, owner and status filters,
CSV export), the contact page (fields, account, deals with roles, timeline, log an activity),
and the create and edit forms ("+ contact" on the account page). Parse → selector or service
→ render; rules live in accounts.services and activities.services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts import selectors, services
from accounts.forms import ContactFilterForm, ContactForm
from accounts.models import Account, Contact
from activities.forms import ActivityForm
from activities.models import Activity
from activities.services import complete_task, create_activity
from crm.csv_export import csv_response
from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from leads import selectors as lead_selectors
from pipeline import selectors as pipeline_selectors

PAGE_SIZE = 50
CSV_COLUMNS = [
    "id",
    "first_name",
    "last_name",
    "email",
    "other_emails",
    "phone",
    "title",
    "account",
    "owner",
    "unsubscribed",
    "do_not_contact",
    "created_at",
]


def _filters(request: AuthenticatedHttpRequest) -> tuple[ContactFilterForm, dict[str, Any]]:
    form = ContactFilterForm(request.GET, user=request.user)
    filters = form.cleaned_filters()
    account = (filters.get("account") or "").strip()
    filters["account"] = None
    filters["account_name"] = ""
    if account.isdigit():
        filters["account"] = int(account)
    elif account:
        filters["account_name"] = account
    return form, filters


@require_GET
@vary_on_headers("HX-Request")
def contact_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Visible contacts, filtered, 50 a page: a fixed number of queries at any size."""
    form, filters = _filters(request)
    contacts = selectors.filter_contacts(user=request.user, filters=filters)
    page = Paginator(contacts, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context = {"form": form, "page": page, "params": params.urlencode()}
    template = (
        "accounts/_contact_rows.html"
        if request.htmx and not request.htmx.boosted
        else "accounts/contact_list.html"
    )
    return render(request, template, context)


@require_GET
def contact_export(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    """The filtered list as CSV (every page), streamed: one query per 2,000 rows for the
    contacts and one for their e-mails."""
    _, filters = _filters(request)
    contacts = selectors.filter_contacts(user=request.user, filters=filters).prefetch_related(
        "emails"
    )

    def rows() -> Any:
        for contact in contacts.iterator(chunk_size=2000):
            others = [e.email for e in contact.emails.all() if not e.is_primary]
            yield [
                contact.pk,
                contact.first_name,
                contact.last_name,
                contact.primary_email or "",  # type: ignore[attr-defined]
                " ".join(sorted(others)),
                contact.phone,
                contact.title,
                contact.account.name if contact.account else "",
                contact.owner.username if contact.owner else "",
                contact.unsubscribed,
                contact.do_not_contact,
                contact.created_at,
            ]

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return csv_response(f"contacts-{stamp}.csv", CSV_COLUMNS, rows())


def _contact_or_404(request: AuthenticatedHttpRequest, pk: int) -> Contact:
    scoped = Contact.objects.visible_to(request.user).select_related("owner", "account")
    return get_object_or_404(scoped, pk=pk)


def _detail(
    request: AuthenticatedHttpRequest,
    contact: Contact,
    *,
    activity_form: ActivityForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The contact page: one query for each part (e-mails, deals with roles, leads, timeline)."""
    user = request.user
    activities = selectors.contact_activities(contact=contact)
    now = timezone.now()
    open_tasks = sorted(
        # The contact's own: tasks on the lead it came from are done on the lead's page.
        (
            a
            for a in activities
            if a.kind == Activity.Kind.TASK and a.done_at is None and a.contact_id == contact.pk
        ),
        key=lambda a: a.due_at or now,
    )
    context = {
        "contact": contact,
        "emails": services.contact_emails(contact),
        "roles": pipeline_selectors.contact_deals(user=user, contact=contact),
        "leads": lead_selectors.contact_leads(user=user, contact=contact),
        "activities": activities,
        "open_tasks": open_tasks,
        "activity_form": activity_form or ActivityForm(),
    }
    return render(request, "accounts/contact_detail.html", context, status=status)


@require_GET
def contact_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _contact_or_404(request, pk))


@require_http_methods(["GET", "POST"])
def contact_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """ "+ contact" (the account page passes `?account=`): the account comes preselected."""
    account_id = request.GET.get("account", "")
    account = (
        Account.objects.visible_to(request.user).filter(pk=int(account_id)).first()
        if account_id.isdigit()
        else None
    )
    initial = {"account": account.pk if account else None, "owner": request.user.pk}
    form = ContactForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.create_contact(by=request.user, **form.service_data())
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Contact “{contact}” created.")
            return redirect("contacts:detail", pk=contact.pk)
    status = 422 if request.method == "POST" else 200
    context = {"form": form, "account": account}
    return render(request, "accounts/contact_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
def contact_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    contact = _contact_or_404(request, pk)
    initial = ContactForm.initial_for(contact, services.contact_emails(contact))
    form = ContactForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_contact(contact=contact, by=request.user, data=form.service_data())
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Contact saved.")
            return redirect("contacts:detail", pk=pk)
    status = 422 if request.method == "POST" else 200
    context = {"form": form, "contact": contact, "account": contact.account}
    return render(request, "accounts/contact_form.html", context, status=status)


@require_POST
def contact_activity(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Log an activity or schedule a task on the contact (activities.services)."""
    contact = _contact_or_404(request, pk)
    form = ActivityForm(request.POST)
    if form.is_valid():
        try:
            create_activity(by=request.user, contact=contact, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Logged.")
            return redirect("contacts:detail", pk=pk)
    return _detail(request, contact, activity_form=form, status=422)


@require_POST
def task_done(request: AuthenticatedHttpRequest, pk: int, task_id: int) -> HttpResponse:
    contact = _contact_or_404(request, pk)
    task = get_object_or_404(Activity.objects.open_tasks().filter(contact=contact), pk=task_id)
    complete_task(activity=task, by=request.user)
    messages.success(request, f"Task “{task.subject}” done.")
    return redirect("contacts:detail", pk=pk)
