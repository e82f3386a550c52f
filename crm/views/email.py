"""Settings → E-mail (admins): the messages that did not go out, the relay's reasons, Resend."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from crm import outbox
from crm.http import AuthenticatedHttpRequest
from crm.permissions import is_admin, require

ONLY_ADMINS = "Only admins see and resend undelivered e-mail."


@require_GET
def email_failures(request: AuthenticatedHttpRequest) -> HttpResponse:
    require(is_admin(request.user), ONLY_ADMINS)
    context = {
        "failures": outbox.failed_messages(user=request.user),
        "counts": outbox.outbox_counts(user=request.user),
    }
    return render(request, "crm/email.html", context)


@require_POST
def resend_email(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(is_admin(request.user), ONLY_ADMINS)
    message = get_object_or_404(outbox.resendable(request.user), pk=pk)
    if outbox.resend(message=message, by=request.user):
        messages.success(request, f"“{message.subject}” is queued again (same Message-ID).")
    return redirect("settings:email")
