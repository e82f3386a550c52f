"""The deal page's Contacts card (htmx): the buying committee, each contact with a role, one
primary. Every write returns the card again (its fragment), so the page never drifts from
what is stored; without htmx it redirects back to the deal page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm.http import AuthenticatedHttpRequest
from pipeline import selectors, services
from pipeline.contact_role_forms import AddContactRoleForm, ContactRoleForm
from pipeline.models import ContactRole, ContactRoleQuerySet, Opportunity

CARD = "pipeline/_contact_roles.html"


def _deal(request: AuthenticatedHttpRequest, pk: int) -> Opportunity:
    return get_object_or_404(Opportunity.objects.visible_to(request.user), pk=pk)


def _roles(deal: Opportunity) -> ContactRoleQuerySet:
    return ContactRole.objects.filter(opportunity=deal).select_related("opportunity")


def _card(
    request: AuthenticatedHttpRequest,
    deal: Opportunity,
    *,
    form: AddContactRoleForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The Contacts card, or (not htmx) back to the deal page with the outcome as a message."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("pipeline:opportunity", pk=deal.pk)
    context = {
        "contacts": selectors.deal_contacts(user=request.user, opportunity=deal),
        "form": form or AddContactRoleForm(user=request.user),
        "error": error,
        "roles": ContactRole.Role.choices,
    }
    return render(request, CARD, context, status=status)


@require_http_methods(["GET", "POST"])
def contact_roles(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET: the card (the deal page loads it). POST: add a contact with a role."""
    deal = _deal(request, pk)
    if request.method == "GET":
        return _card(request, deal)
    form = AddContactRoleForm(request.POST, user=request.user)
    if not form.is_valid():
        error = " ".join(" ".join(map(str, e)) for e in form.errors.values())
        return _card(request, deal, form=form, error=error, status=422)
    try:
        services.add_contact_role(opportunity=deal, by=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return _card(request, deal, form=form, error=" ".join(exc.messages), status=422)
    return _card(request, deal)


@require_POST
def contact_role_edit(request: AuthenticatedHttpRequest, pk: int, role_id: int) -> HttpResponse:
    """Change the contact's role, or make it the primary contact."""
    deal = _deal(request, pk)
    contact_role = get_object_or_404(_roles(deal), pk=role_id)
    form = ContactRoleForm(request.POST)
    if not form.is_valid():
        error = " ".join(" ".join(map(str, e)) for e in form.errors.values())
        return _card(request, deal, error=error, status=422)
    try:
        services.update_contact_role(contact_role=contact_role, by=request.user, **form.changes())
    except ValidationError as exc:
        return _card(request, deal, error=" ".join(exc.messages), status=422)
    return _card(request, deal)


@require_POST
def contact_role_delete(request: AuthenticatedHttpRequest, pk: int, role_id: int) -> HttpResponse:
    """Take the contact off the deal (the contact stays)."""
    deal = _deal(request, pk)
    contact_role = get_object_or_404(_roles(deal), pk=role_id)
    services.remove_contact_role(contact_role=contact_role, by=request.user)
    return _card(request, deal)
