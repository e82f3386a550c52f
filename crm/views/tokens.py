"""Settings → API tokens: admins create tokens (shown once) and revoke them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm import services
from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import ApiToken, User
from crm.permissions import is_admin, require

ONLY_ADMINS = "Only admins manage API tokens."


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True))
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple
    )


@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    require(is_admin(request.user), ONLY_ADMINS)
    created_text = None
    form = ApiTokenForm(request.POST or None, initial={"user": request.user})
    if request.method == "POST" and form.is_valid():
        try:
            _, created_text = services.create_api_token(
                by=request.user,
                user=form.cleaned_data["user"],
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            form = ApiTokenForm(initial={"user": request.user})
    tokens = ApiToken.objects.select_related("user")
    status = 422 if request.method == "POST" and created_text is None else 200
    return render(
        request,
        "crm/tokens.html",
        {"form": form, "tokens": tokens, "created_text": created_text},
        status=status,
    )


@require_POST
def revoke_token(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(is_admin(request.user), ONLY_ADMINS)
    token = get_object_or_404(ApiToken, pk=pk)
    services.revoke_api_token(token=token, by=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("settings:tokens")
