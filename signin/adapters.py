"""allauth adapters: how allauth's flows fit Plumb.

- Accounts: no local sign-up (admins create users), client IPs as the audit trail sees them,
  every e-mail through signin.mail, SSO sign-ins audited with their provider.
- Single sign-on: who may sign in (an active user whose verified e-mail matches, or a new
  user of a just-in-time domain), refusals and protocol failures explained on the login page
  and audited.
- Two-factor: TOTP secrets encrypted at rest.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.core.internal.datakit import parse_bool_safely
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from crm import audit
from crm.middleware import client_ip
from crm.models import User
from signin import crypto, mail
from signin.models import SecurityPolicy
from signin.sessions import UNKNOWN_IP

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False  # admins create users; SSO may create them for allowed domains

    def add_message(self, *args: Any, **kwargs: Any) -> None:
        return None  # our pages say what happened in their own words

    def get_client_ip(self, request: HttpRequest) -> str:
        return client_ip(request) or UNKNOWN_IP

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        message = self.render_mail(template_prefix, email, context)
        html = next(
            (body for body, kind in getattr(message, "alternatives", []) if kind == "text/html"),
            "",
        )
        mail.send(
            kind=f"allauth.{template_prefix.rsplit('/', 1)[-1]}",
            to=email,
            subject=str(message.subject),
            text=str(message.body),
            html=str(html),
        )

    def respond_user_inactive(self, request: HttpRequest, user: AbstractBaseUser) -> HttpResponse:
        messages.error(request, "Your account is deactivated. Ask an admin.")
        return redirect("login")

    def login(self, request: HttpRequest, user: AbstractBaseUser) -> None:
        if not hasattr(user, "backend"):
            user.backend = MODEL_BACKEND  # type: ignore[attr-defined]  # SSO: no backend ran
        records = get_authentication_records(request, user)
        super().login(request, user)
        for record in records:
            if record.get("method") == "socialaccount" and isinstance(user, User):
                audit.record(
                    actor=user,
                    action="user.sso_login",
                    target=user,
                    changes={"provider": record.get("provider", "")},
                )


def _claims(sociallogin: SocialLogin) -> dict[str, Any]:
    """The identity the provider vouched for: the ID token's claims, userinfo over them."""
    data = sociallogin.account.extra_data or {}
    return {**(data.get("id_token") or {}), **(data.get("userinfo") or {})}


def _provider_label(sociallogin: SocialLogin) -> str:
    provider = sociallogin.provider
    return str(getattr(provider, "name", "") or sociallogin.account.provider)


def _record_refusal(
    *, provider_id: str, label: str, reason: str, user: User | None, detail: dict[str, Any]
) -> None:
    """A refused or failed SSO sign-in is a security event: audited (on the user when known,
    else on the provider)."""
    changes = {"provider": provider_id, "reason": reason, **detail}
    if user is not None:
        audit.record(actor=None, action="user.sso_refused", target=user, changes=changes)
        return
    audit.record_entries(
        actor=None,
        action="signin.sso_failed",
        entries=[audit.Entry(model=SocialApp, target_id=provider_id, changes=changes, label=label)],
    )


def _refuse(
    request: HttpRequest,
    sociallogin: SocialLogin,
    message: str,
    *,
    user: User | None = None,
    **detail: Any,
) -> None:
    label = _provider_label(sociallogin)
    _record_refusal(
        provider_id=sociallogin.account.provider,
        label=label,
        reason=message,
        user=user,
        detail=detail,
    )
    messages.error(request, f"Single sign-on with {label} did not sign you in: {message}")
    raise ImmediateHttpResponse(redirect("login"))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Who may sign in. A known identity: its user, if active. Otherwise the verified
        e-mail must match exactly one active user (the identity is then linked), or belong
        to a just-in-time domain (a user is created); anything else is refused."""
        claims = _claims(sociallogin)
        email = str(claims.get("email") or "").strip()
        if sociallogin.is_existing:
            user = sociallogin.user
            if isinstance(user, User) and not user.is_active:
                _refuse(request, sociallogin, "your Plumb account is deactivated.", user=user)
            return
        if not email:
            _refuse(request, sociallogin, "the provider did not share your e-mail address.")
        if not parse_bool_safely(claims.get("email_verified")):
            _refuse(
                request,
                sociallogin,
                f"the provider has not verified your e-mail address ({email}).",
                email=email,
            )
        matches = list(User.objects.filter(email__iexact=email)[:2])
        if len(matches) > 1:
            _refuse(
                request,
                sociallogin,
                f"several Plumb accounts use {email}; ask an admin.",
                email=email,
            )
        if matches:
            user = matches[0]
            if not user.is_active:
                _refuse(request, sociallogin, "your Plumb account is deactivated.", user=user)
            sociallogin.connect(request, user)  # the identity now signs this user in
            audit.record(
                actor=user,
                action="user.sso_link",
                target=user,
                changes={"provider": sociallogin.account.provider, "uid": sociallogin.account.uid},
            )
            return
        if not self._jit_allows(email):
            _refuse(
                request,
                sociallogin,
                f"no Plumb account uses {email}. Ask an admin to invite you.",
                email=email,
            )

    @staticmethod
    def _jit_allows(email: str) -> bool:
        row = SecurityPolicy.objects.filter(pk=1).first()
        domain = email.rsplit("@", 1)[-1].lower()
        return row is not None and domain in row.domains()

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        claims = _claims(sociallogin)
        verified = parse_bool_safely(claims.get("email_verified"))
        return verified and self._jit_allows(str(claims.get("email") or ""))

    def populate_user(
        self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]
    ) -> AbstractBaseUser:
        user = super().populate_user(request, sociallogin, data)
        row = SecurityPolicy.objects.filter(pk=1).first()
        if isinstance(user, User) and row is not None:
            user.role = row.jit_role
            user.team_id = row.jit_team_id
        return user

    def save_user(
        self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None
    ) -> AbstractBaseUser:
        user = super().save_user(request, sociallogin, form)
        if isinstance(user, User):
            audit.record(
                actor=None,
                action="user.create",
                target=user,
                changes={
                    "via": f"single sign-on ({sociallogin.account.provider})",
                    "role": [None, user.role],
                    "team": [None, user.team_id],
                    "email": [None, user.email],
                },
                label=user.username,
            )
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        """Any protocol failure (no or unknown state, a bad token, an unreachable or broken
        provider): a message on the login page, no session, an audit entry."""
        name = str(getattr(provider, "name", "") or "the provider")
        provider_id = str(getattr(getattr(provider, "app", None), "provider_id", "") or "")
        context = extra_context or {}
        if isinstance(exception, OAuth2Error) and str(exception):
            reason = f"{exception}."  # signin.oidc words these ("its ID token has expired")
        elif exception is not None:
            reason = (
                f"it could not be reached or refused the exchange ({type(exception).__name__})."
            )
        elif "state_id" in context:
            reason = "the sign-in was not started here, or it took too long. Try again."
        elif str(error) == "cancelled":
            reason = "the sign-in was cancelled."
        else:
            reason = f"{name} reported an error ({request.GET.get('error', 'unknown')})."
        _record_refusal(provider_id=provider_id, label=name, reason=reason, user=None, detail={})
        messages.error(request, f"Single sign-on with {name} did not sign you in: {reason}")
        raise ImmediateHttpResponse(redirect("login"))


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)

    def get_totp_label(self, user: AbstractBaseUser) -> str:
        return user.get_username()

    def get_totp_issuer(self) -> str:
        return "Plumb CRM"
