"""Settings → API tokens: admins create tokens (shown once) and revoke them."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm import services
from crm.http import AuthenticatedHttpRequest
from crm.models import ApiToken, User


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True))
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple
    )


def _require_admin(request: AuthenticatedHttpRequest) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("Only admins manage API tokens.")


@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_admin(request)
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
            for field, errs in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errs)
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
    _require_admin(request)
    token = get_object_or_404(ApiToken, pk=pk)
    services.revoke_api_token(token=token, by=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("settings:tokens")
