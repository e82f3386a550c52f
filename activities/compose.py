"""Writing an e-mail from a record's page: the lead page and the deal page both answer with
this (their views find the record in the user's scope, then hand over).

GET (htmx) gives the compose card, filled from `?template=` when one is chosen; POST sends
through activities.emails.send_email and reloads the record's page, or answers the card with
its errors (422).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django_htmx.http import HttpResponseClientRedirect

from activities import emails, selectors
from activities.forms import EmailComposeForm
from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest

CARD = "activities/_compose.html"
PAGE = "activities/compose.html"


def compose_context(
    *,
    request: AuthenticatedHttpRequest,
    record: models.Model,
    action: str,
    form: Any = None,
    back: str = "",
) -> dict[str, Any]:
    """What the compose card needs (the record pages include it)."""
    recipients = emails.recipients_for(record)
    templates = selectors.email_templates_for(user=request.user)
    if form is None:
        initial = {"to": recipients[0].address} if recipients else {}
        form = EmailComposeForm(initial=initial, templates=templates)
    return {
        "form": form,
        "templates": list(templates.only("pk", "name")),  # one query; the card lists them
        "recipients": recipients,
        "action": action,
        "record": record,
        "back": back,
    }


def compose_email(
    request: AuthenticatedHttpRequest, *, record: models.Model, action: str, back: str
) -> HttpResponse:
    """The compose card's endpoint for `record` (already found in the user's scope)."""
    templates = selectors.email_templates_for(user=request.user)
    if request.method != "POST":
        if not request.htmx:
            return redirect(f"{back}#compose")
        context = compose_context(request=request, record=record, action=action)
        chosen = request.GET.get("template")
        if chosen and chosen.isdigit():
            template = get_object_or_404(templates, pk=chosen)
            subject, body = emails.fill_template(template=template, by=request.user, record=record)
            initial = {**context["form"].initial, "template": template.pk}
            context["form"] = EmailComposeForm(
                initial=initial | {"subject": subject, "body": body}, templates=templates
            )
        return render(request, CARD, {"compose": context})
    form = EmailComposeForm(request.POST, templates=templates)
    if form.is_valid():
        data = form.cleaned_data
        try:
            sent = emails.send_email(by=request.user, record=record, **data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"E-mail “{sent.subject}” to {', '.join(sent.to)} queued.")
            return HttpResponseClientRedirect(back) if request.htmx else redirect(back)
    context = {
        "compose": compose_context(
            request=request, record=record, action=action, form=form, back=back
        )
    }
    return render(request, CARD if request.htmx else PAGE, context, status=422)
