"""Settings → E-mail templates: everyone keeps their own; admins and managers share some."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from activities import emails, merge, selectors
from activities.forms import EmailTemplateForm
from activities.models import EmailTemplate
from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import User


def _can_share(user: User) -> bool:
    return user.is_admin or user.role == User.Role.MANAGER


@require_http_methods(["GET", "POST"])
def email_templates(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = EmailTemplateForm(request.POST or None, can_share=_can_share(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            template = emails.create_email_template(by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("activities:email_templates")
    context = {
        "form": form,
        "templates": selectors.email_template_list(user=request.user),
        "merge_fields": merge.known_fields(),
    }
    status = 422 if request.method == "POST" else 200
    return render(request, "activities/email_templates.html", context, status=status)


@require_http_methods(["GET", "POST"])
def email_template_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(EmailTemplate.objects.editable_by(request.user), pk=pk)
    initial = {"name": template.name, "subject": template.subject, "body": template.body}
    form = EmailTemplateForm(request.POST or None, initial=initial, can_share=False)
    if request.method == "POST" and form.is_valid():
        try:
            emails.update_email_template(by=request.user, template=template, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("activities:email_templates")
    context = {"form": form, "template": template, "merge_fields": merge.known_fields()}
    status = 422 if request.method == "POST" else 200
    return render(request, "activities/email_template_edit.html", context, status=status)


@require_POST
def email_template_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(EmailTemplate.objects.editable_by(request.user), pk=pk)
    emails.delete_email_template(by=request.user, template=template)
    messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("activities:email_templates")
