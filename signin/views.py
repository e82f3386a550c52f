"""Sign-in pages: /login/ (password, then allauth's code step or SSO), password reset, and
Settings → Two-factor, Sessions, Security.

Thin: forms check shape; signin.two_factor, signin.sessions and signin.services decide.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from allauth.account.utils import perform_login
from allauth.mfa.models import Authenticator
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import registry, services_users
from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.models import Team, User
from crm.permissions import is_admin, require
from signin import policy, services, sessions, two_factor
from signin.forms import (
    CodeForm,
    EnrolForm,
    LoginForm,
    PolicyForm,
    ProviderForm,
    ResetRequestForm,
)
from signin.models import DeviceSession
from signin.tokens import reset_token_generator

SECRET_KEY = "signin.totp_secret"  # the secret being enrolled, until a code proves it
ONLY_ADMINS = "Only admins change sign-in security."


def _providers(request: HttpRequest) -> list[SocialApp]:
    """The SSO buttons: every OpenID Connect provider (database and environment)."""
    return list(get_social_adapter().list_apps(request, provider="openid_connect"))


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


# --- the way in -----------------------------------------------------------------------------------


@login_not_required
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """Username and password; then allauth asks for a code when the user has two-factor."""
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        # allauth's login flow: its stages (the code step) run before the session is made.
        return perform_login(request, user, redirect_url=next_url or None)
    providers = _providers(request)
    context = {
        "form": form,
        "next": next_url,
        "providers": providers,
        "sso_only": policy.current().sso_only,
    }
    response = render(request, "registration/login.html", context)
    response["Content-Security-Policy"] = _login_page_policy(providers)
    return response


def _login_page_policy(providers: list[SocialApp]) -> str:
    """Our CSP, with the providers' origins allowed as form targets: the SSO button posts to
    us and we redirect to the provider, and browsers apply form-action to that redirect."""
    origins = sorted(
        {
            f"{parts.scheme}://{parts.netloc}"
            for app in providers
            if (parts := urlsplit(str(app.settings.get("server_url", "")))).netloc
        }
    )
    policy_text = settings.CONTENT_SECURITY_POLICY
    if origins:
        policy_text = policy_text.replace(
            "form-action 'self'", "form-action 'self' " + " ".join(origins)
        )
    return policy_text


@method_decorator(login_not_required, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    template_name = "signin/password_reset.html"
    form_class = ResetRequestForm
    token_generator = reset_token_generator
    subject_template_name = "email/password_reset_subject.txt"
    email_template_name = "email/password_reset.txt"  # and .html: crm.outbox renders both
    success_url = reverse_lazy("signin:password_reset_sent")

    def form_valid(self, form: Any) -> HttpResponse:
        self.extra_email_context = {
            "site_url": settings.SITE_URL,
            "minutes": settings.PASSWORD_RESET_LINK_MINUTES,
        }
        return super().form_valid(form)


@method_decorator(login_not_required, name="dispatch")
class PasswordResetSentView(auth_views.PasswordResetDoneView):
    template_name = "signin/password_reset_sent.html"


@method_decorator(login_not_required, name="dispatch")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The link from the e-mail: choose a new password (the rules apply). Works once."""

    template_name = "signin/password_reset_confirm.html"
    token_generator = reset_token_generator
    success_url = reverse_lazy("login")
    reset_url_token = "set-password"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services_users.record_password_change(user=form.user, by=form.user)
        for follow in registry.credentials_followers():
            follow(self.request, form.user)
        messages.success(self.request, "Your password is changed: sign in with it.")
        return response


# --- Settings → Two-factor ------------------------------------------------------------------------


def _show_codes(request: AuthenticatedHttpRequest, codes: list[str], headline: str) -> HttpResponse:
    """The one time recovery codes are shown (never stored in the clear)."""
    context = {"codes": codes, "headline": headline}
    return render(request, "signin/recovery_codes.html", context)


def _after_two_factor_change(request: AuthenticatedHttpRequest, *, enrolled: bool) -> None:
    request.session[sessions.TWO_FACTOR] = enrolled
    sessions.end_other_sessions(
        user=request.user,
        keep=request.session.session_key,
        by=request.user,
        reason="two-factor changed",
    )


@require_http_methods(["GET", "POST"])
def two_factor_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Status and enrolment. Enrolment shows a QR code (inline SVG drawn here) and the secret
    for typing in; it completes only with a valid code from the app."""
    user = request.user
    required = policy.current().requires_two_factor(user)
    if two_factor.has_two_factor(user):
        context = {
            "required": required,
            "codes_left": two_factor.unused_recovery_codes(user),
            "disable_form": CodeForm(),
        }
        return render(request, "signin/two_factor.html", context)
    secret = request.session.get(SECRET_KEY) or two_factor.new_secret()
    request.session[SECRET_KEY] = secret
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = two_factor.enrol(user=user, secret=secret, code=form.cleaned_data["code"])
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            request.session.pop(SECRET_KEY, None)
            _after_two_factor_change(request, enrolled=True)
            return _show_codes(request, codes, "Two-factor is on.")
    context = {
        "required": required,
        "enrolment": two_factor.enrolment(user=user, secret=secret),
        "form": form,
    }
    status = 422 if request.method == "POST" else 200
    return render(request, "signin/enrol.html", context, status=status)


@require_POST
def regenerate_recovery_codes(request: AuthenticatedHttpRequest) -> HttpResponse:
    try:
        codes = two_factor.regenerate_recovery_codes(user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("signin:two_factor")
    _after_two_factor_change(request, enrolled=True)
    return _show_codes(request, codes, "New recovery codes: the old ones no longer work.")


@require_POST
def disable_two_factor(request: AuthenticatedHttpRequest) -> HttpResponse:
    if policy.current().requires_two_factor(request.user):
        messages.error(request, "Your organisation requires two-factor: it stays on.")
        return redirect("signin:two_factor")
    form = CodeForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Enter a current code.")
        two_factor.disable(user=request.user, code=form.cleaned_data["code"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("signin:two_factor")
    _after_two_factor_change(request, enrolled=False)
    messages.success(request, "Two-factor is off.")
    return redirect("signin:two_factor")


# --- Settings → Sessions --------------------------------------------------------------------------


@require_GET
def session_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    rows = sessions.sessions_of(
        user=request.user, current_key=request.session.session_key, policy=policy.current()
    )
    return render(request, "signin/sessions.html", {"rows": rows})


@require_POST
def end_session(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Sign out one of your own sessions (another user's answers 404)."""
    session = get_object_or_404(DeviceSession.objects.visible_to(request.user), pk=pk)
    current = session.session_key == request.session.session_key
    sessions.end_session(user=request.user, session=session, by=request.user)
    if current:
        return redirect("login")
    messages.success(request, "That session is signed out.")
    return redirect("signin:sessions")


@require_POST
def end_other_sessions(request: AuthenticatedHttpRequest) -> HttpResponse:
    ended = sessions.end_other_sessions(
        user=request.user,
        keep=request.session.session_key,
        by=request.user,
        reason="signed out everywhere else",
    )
    messages.success(request, f"Signed out {ended} other session{'s' if ended != 1 else ''}.")
    return redirect("signin:sessions")


# --- Settings → Security (admins) -----------------------------------------------------------------


def _policy_form(data: Any = None) -> PolicyForm:
    admins = User.objects.filter(is_active=True, role=User.Role.ADMIN)
    return PolicyForm(
        data, instance=services.load_policy(), admins=admins, teams=Team.objects.all()
    )


def _security_context(request: AuthenticatedHttpRequest, form: PolicyForm) -> dict[str, Any]:
    q = request.GET.get("q", "").strip()[:100]
    enrolled = Authenticator.objects.filter(user_id=OuterRef("pk"), type=Authenticator.Type.TOTP)
    users = User.objects.annotate(has_two_factor=Exists(enrolled)).select_related("team")
    if q:
        users = users.filter(Q(username__icontains=q) | Q(email__icontains=q))
    page = Paginator(users.order_by("-is_active", "username"), 100).get_page(
        request.GET.get("page")
    )
    db_apps = {app.provider_id: app for app in SocialApp.objects.filter(provider="openid_connect")}
    providers = [
        {"app": app, "stored": app.provider_id in db_apps and app.pk is not None}
        for app in _providers(request)
    ]
    return {"form": form, "page": page, "q": q, "providers": providers}


@require_http_methods(["GET", "POST"])
def security(request: AuthenticatedHttpRequest) -> HttpResponse:
    require(is_admin(request.user), ONLY_ADMINS)
    form = _policy_form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_policy(
                by=request.user, **{f: form.cleaned_data[f] for f in services.POLICY_FIELDS}
            )
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Security policy saved.")
            return redirect("signin:security")
    status = 422 if request.method == "POST" else 200
    return render(request, "signin/security.html", _security_context(request, form), status=status)


@require_http_methods(["GET", "POST"])
def provider_edit(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    require(is_admin(request.user), ONLY_ADMINS)
    app = get_object_or_404(SocialApp, pk=pk, provider="openid_connect") if pk else None
    initial = (
        {
            "name": app.name,
            "provider_id": app.provider_id,
            "issuer": app.settings.get("server_url", ""),
            "client_id": app.client_id,
        }
        if app
        else {}
    )
    form = ProviderForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_provider(by=request.user, app=app, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, f"Provider “{saved.name}” saved.")
            return redirect("signin:security")
    callback = request.build_absolute_uri(
        f"/sso/{app.provider_id if app else '<short name>'}/login/callback/"
    )
    context = {"form": form, "app": app, "callback": callback}
    status = 422 if request.method == "POST" else 200
    return render(request, "signin/provider_form.html", context, status=status)


@require_POST
def provider_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(is_admin(request.user), ONLY_ADMINS)
    app = get_object_or_404(SocialApp, pk=pk, provider="openid_connect")
    try:
        services.delete_provider(by=request.user, app=app)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Provider “{app.name}” removed.")
    return redirect("signin:security")


@require_POST
def reset_two_factor(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(is_admin(request.user), ONLY_ADMINS)
    subject = get_object_or_404(User, pk=pk)
    if two_factor.reset(by=request.user, user=subject):
        messages.success(
            request,
            f"Two-factor of {subject.username} is reset: they were signed out, were told by "
            "e-mail, and enrol again at their next sign-in.",
        )
    else:
        messages.info(request, f"{subject.username} has no two-factor to reset.")
    return redirect("signin:security")
