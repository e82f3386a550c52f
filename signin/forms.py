"""Sign-in forms: the password step, the code step (allauth's, with our checks), enrolment,
the security policy and OpenID Connect providers. They check shape; services decide."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from allauth.account.internal.stagekit import clear_login
from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string

from crm.forms import bootstrap
from crm.models import Team, User
from signin import mail, policy, two_factor
from signin.models import SecurityPolicy

SSO_ONLY = "Your organisation signs in with single sign-on only: use the button below."


class LoginForm(AuthenticationForm):
    """Username and password (django-axes counts the failures). Under "SSO only" the password
    is not even checked for anyone but the break-glass admin."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct username and password.",
        "sso_only": SSO_ONLY,
    }

    def clean(self) -> dict[str, Any]:
        current = policy.current()
        if current.sso_only:
            username = self.cleaned_data.get("username") or ""
            user = User.objects.filter(username=username).first()
            if not current.allows_password(user):
                raise ValidationError(self.error_messages["sso_only"], code="sso_only")
        return super().clean()


def count_failure(request: HttpRequest, user: User) -> None:
    """A wrong code counts toward the lockout like a wrong password (same username + IP)."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )


def is_locked_out(request: HttpRequest, user: User) -> bool:
    return AxesProxyHandler.is_locked(request, {"username": user.get_username()})


def lock_out(request: HttpRequest, user: User) -> None:
    """Answer with django-axes' lockout page and drop the half-finished sign-in."""
    request.axes_locked_out = True  # type: ignore[attr-defined]  # AxesMiddleware reads these
    request.axes_credentials = {"username": user.get_username()}  # type: ignore[attr-defined]
    clear_login(request)


class SecondStepForm(AuthenticateForm):
    """allauth's code step: an authenticator code or one of the recovery codes.

    Replaces allauth's check with signin.two_factor's (codes are spent once, recovery codes
    are hashed) and counts every wrong or replayed code as a failed log-in for django-axes.
    """

    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "autofocus": True,
                "class": "form-control",
            }
        ),
    )

    def clean_code(self) -> str:
        request = context.request
        user = self.user
        code = self.cleaned_data["code"]
        if is_locked_out(request, user):
            lock_out(request, user)
            raise ValidationError("Too many failed attempts.")
        if two_factor.looks_like_recovery_code(code):
            result = two_factor.use_recovery_code(user=user, code=code)
            kind = "recovery_codes"
        else:
            result = two_factor.check_totp(user=user, code=code)
            kind = "totp"
        if result is two_factor.CodeResult.OK:
            self.authenticator = two_factor.authenticator_for(user, kind)
            return code
        count_failure(request, user)
        if getattr(request, "axes_locked_out", False):
            lock_out(request, user)
        raise ValidationError(
            {
                two_factor.CodeResult.MALFORMED: "Enter the 6-digit code from your app, or a "
                "recovery code (like abcde-fghij).",
                two_factor.CodeResult.REPLAYED: "That code was already used. Wait for the "
                "next one in your app.",
            }.get(result, "That code does not match.")
        )


class EnrolForm(forms.Form):
    code = forms.CharField(
        label="Code from your app",
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "class": "form-control"}
        ),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="A current code (or a recovery code)",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "class": "form-control"}),
    )


class PolicyForm(forms.ModelForm):
    class Meta:
        model = SecurityPolicy
        fields = [
            "two_factor_required",
            "sso_only",
            "break_glass_user",
            "idle_timeout_minutes",
            "absolute_lifetime_hours",
            "jit_domains",
            "jit_role",
            "jit_team",
        ]
        labels = {
            "two_factor_required": "Two-factor required for",
            "sso_only": "Single sign-on only",
            "break_glass_user": "Break-glass admin",
            "idle_timeout_minutes": "Idle timeout (minutes)",
            "absolute_lifetime_hours": "Session lifetime (hours)",
            "jit_domains": "Just-in-time domains",
            "jit_role": "Role of just-in-time users",
            "jit_team": "Team of just-in-time users",
        }
        widgets = {"jit_domains": forms.TextInput()}

    def __init__(
        self, *args: Any, admins: QuerySet[User], teams: QuerySet[Team], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["break_glass_user"].queryset = admins  # type: ignore[attr-defined]
        self.fields["jit_team"].queryset = teams  # type: ignore[attr-defined]
        bootstrap(self)

    def clean_jit_domains(self) -> str:
        text = self.cleaned_data["jit_domains"]
        parts = [p.strip().lstrip("@").lower() for p in text.replace(",", " ").split()]
        bad = [p for p in parts if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", p)]
        if bad:
            raise ValidationError(f"Not a domain: {', '.join(bad)}.")
        return ", ".join(sorted(set(parts)))


_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


class ProviderForm(forms.Form):
    """An OpenID Connect provider: the issuer (discovery is read from it), the client's id and
    secret, the button's label and the slug of its callback URL."""

    name = forms.CharField(max_length=40, label="Button label", initial="Single sign-on")
    provider_id = forms.CharField(
        max_length=40,
        label="Short name",
        help_text="Lower-case letters, digits and dashes; the callback URL is "
        "/sso/<short name>/login/callback/.",
    )
    issuer = forms.URLField(
        max_length=300,
        assume_scheme="https",
        help_text="e.g. https://login.example.com/realms/acme (its discovery document is "
        "read from /.well-known/openid-configuration).",
    )
    client_id = forms.CharField(max_length=191, label="Client id")
    secret = forms.CharField(
        max_length=191,
        required=False,
        label="Client secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored one.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)

    def clean_provider_id(self) -> str:
        value = self.cleaned_data["provider_id"].strip().lower()
        if not _SLUG.fullmatch(value):
            raise ValidationError("Use lower-case letters, digits and dashes.")
        return value

    def clean_issuer(self) -> str:
        value = self.cleaned_data["issuer"].strip().rstrip("/")
        parts = urlsplit(value)
        loopback = parts.hostname in {"localhost", "127.0.0.1", "::1"}
        if parts.scheme != "https" and not loopback:
            raise ValidationError("The issuer must be an https:// URL.")
        return value


class ResetRequestForm(PasswordResetForm):
    """ "Forgot your password": an e-mail with a single-use link that expires. Under SSO only,
    nobody but the break-glass admin gets one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update({"class": "form-control", "autofocus": True})

    def get_users(self, email: str) -> Any:
        current = policy.current()
        return [user for user in super().get_users(email) if current.allows_password(user)]

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        mail.send_template(
            kind="signin.password_reset",
            to=to_email,
            template=email_template_name.removesuffix(".txt"),
            subject=subject,
            context=context,
            recipient=context.get("user"),
        )
