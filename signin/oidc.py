"""OpenID Connect single sign-on on top of allauth's provider, with the checks it leaves out.

allauth's openid_connect provider does discovery, the authorization-code flow with PKCE and
state, the code exchange and the userinfo call. It sends no nonce, and it skips the ID token
signature when the token came straight from the token endpoint (which OpenID Connect allows).
Plumb checks everything, every time:
- a nonce is sent with each authorization request (kept in allauth's per-state data) and the
  ID token must carry it back;
- the ID token's signature is verified against the provider's JWKS, with an asymmetric
  algorithm only (never "none" or an HMAC keyed by a public key);
- issuer, audience (our client id; `azp` when there are several), expiry and issued-at;
- the discovery document must be JSON naming its issuer (the configured one) and endpoints.
Each failure is an OAuth2Error with a sentence a person can act on; signin.adapters turns it
into a message on the login page and an audit entry.
"""

from __future__ import annotations

import secrets
from typing import Any

import jwt
import requests
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialApp, SocialToken
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

# Asymmetric signatures only: the JWKS holds public keys, and an HMAC "keyed" by a public
# key would let anyone forge tokens.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_SECONDS = 30  # clock skew between us and the provider


class PlumbOIDCAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's adapter with the nonce, signature and discovery checks (module docstring)."""

    state: dict[str, Any] | None = None  # set by the callback view from allauth's state

    def _get_json(self, url: str, what: str) -> Any:
        try:
            with get_adapter().get_requests_session() as session:
                response = session.get(url)
                response.raise_for_status()
                return response.json()
        except ValueError as error:  # requests' JSONDecodeError is one too: check it first
            raise OAuth2Error(f"its {what} is not valid JSON") from error
        except requests.RequestException as error:
            raise OAuth2Error(
                f"its {what} could not be fetched ({error.__class__.__name__})"
            ) from error

    @property
    def openid_config(self) -> dict[str, Any]:
        if not hasattr(self, "_openid_config"):
            provider = self.get_provider()
            config = self._get_json(provider.server_url, "discovery document")
            if not isinstance(config, dict):
                raise OAuth2Error("its discovery document is not a JSON object")
            config.update(provider.app.settings.get("openid_configuration_overrides", {}))
            missing = [
                key
                for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                if not isinstance(config.get(key), str) or not config.get(key)
            ]
            if missing:
                raise OAuth2Error(f"its discovery document lacks {', '.join(missing)}")
            expected = provider.app.settings["server_url"].split("/.well-known/")[0].rstrip("/")
            if config["issuer"].rstrip("/") != expected:
                raise OAuth2Error(
                    f"its discovery document names another issuer ({config['issuer']})"
                )
            self._openid_config = config
        return self._openid_config

    def complete_login(
        self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs: Any
    ) -> Any:
        id_token = kwargs["response"].get("id_token")
        if not id_token:
            raise OAuth2Error("it sent no ID token")
        claims = self._decode_id_token(app, id_token)
        data: dict[str, Any] = {"id_token": claims}
        if app.settings.get("fetch_userinfo", True) and self.openid_config.get("userinfo_endpoint"):
            userinfo = self._fetch_user_info(token.token)
            if str(userinfo.get("sub")) != str(claims.get("sub")):
                raise OAuth2Error("its user info is about another user than the ID token")
            data["userinfo"] = userinfo
        return self.get_provider().sociallogin_from_response(request, data)

    def _signing_key(self, id_token: str) -> tuple[Any, str]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as error:
            raise OAuth2Error("its ID token is not a valid JWT") from error
        algorithm = header.get("alg", "")
        if algorithm not in ALGORITHMS:
            raise OAuth2Error(f"its ID token uses an algorithm we refuse ({algorithm or 'none'})")
        jwks = self._get_json(self.openid_config["jwks_uri"], "signing keys (JWKS)")
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list):
            raise OAuth2Error("its signing keys (JWKS) are not a key set")
        kid = header.get("kid")
        candidates = [
            k for k in keys if isinstance(k, dict) and (kid is None or k.get("kid") == kid)
        ]
        if len(candidates) != 1:
            raise OAuth2Error("none of its signing keys (JWKS) matches the ID token")
        try:
            key = jwt.PyJWK(candidates[0], algorithm=algorithm).key
        except jwt.PyJWTError as error:
            raise OAuth2Error("its signing key (JWKS) cannot check the ID token") from error
        return key, algorithm

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict[str, Any]:
        key, algorithm = self._signing_key(id_token)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[algorithm],
                audience=app.client_id,
                issuer=self.openid_config["issuer"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise OAuth2Error("its ID token has expired") from error
        except jwt.InvalidAudienceError as error:
            raise OAuth2Error("its ID token was issued to another application") from error
        except jwt.InvalidIssuerError as error:
            raise OAuth2Error("its ID token names another issuer") from error
        except jwt.InvalidSignatureError as error:
            raise OAuth2Error(
                "its ID token's signature does not verify against its signing keys (JWKS)"
            ) from error
        except jwt.PyJWTError as error:
            raise OAuth2Error(f"its ID token is invalid ({error})") from error
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != app.client_id:
            raise OAuth2Error("its ID token was issued to another application")
        expected = (self.state or {}).get("nonce")
        if not expected or not secrets.compare_digest(str(claims.get("nonce", "")), expected):
            raise OAuth2Error("its ID token does not carry this sign-in's nonce")
        return claims


class PlumbOIDCProvider(OpenIDConnectProvider):
    """allauth's OpenID Connect provider that sends a nonce and uses PlumbOIDCAdapter."""

    oauth2_adapter_class = PlumbOIDCAdapter

    def get_oauth2_adapter(self, request: HttpRequest) -> PlumbOIDCAdapter:
        return PlumbOIDCAdapter(request, self.app.provider_id)

    def get_redirect_from_request_kwargs(self, request: HttpRequest) -> dict[str, Any]:
        # Sign-in only: no "connect" or "redirect" process, no scope or parameters from the
        # request. The next URL is allauth's (checked against our host).
        kwargs = super().get_redirect_from_request_kwargs(request)
        kwargs.update(
            process=AuthProcess.LOGIN, scope=self.get_scope(), auth_params=self.get_auth_params()
        )
        return kwargs

    def redirect(
        self,
        request: HttpRequest,
        process: Any,
        next_url: Any = None,
        data: Any = None,
        **kwargs: Any,
    ) -> HttpResponse:
        # A fresh nonce per authorization request: sent as a parameter, and kept with
        # allauth's state for this attempt (popped at the callback, so it is single-use).
        nonce = secrets.token_urlsafe(24)
        params = kwargs.pop("auth_params", None)
        params = dict(self.get_auth_params() if params is None else params, nonce=nonce)
        return super().redirect(
            request, process, next_url, data, auth_params=params, nonce=nonce, **kwargs
        )


class _CallbackView(OAuth2CallbackView):
    def _get_state(self, request: HttpRequest, provider: Any) -> Any:
        state, response = super()._get_state(request, provider)
        if isinstance(self.adapter, PlumbOIDCAdapter):
            self.adapter.state = state
        return state, response


@login_not_required
@require_POST
def login(request: HttpRequest, provider_id: str) -> HttpResponseBase:
    """Start a sign-in with one provider (a POST from the login page's button)."""
    adapter = PlumbOIDCAdapter(request, provider_id)
    try:
        return OAuth2LoginView.adapter_view(adapter)(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such sign-in provider.") from None
    except OAuth2Error as error:  # discovery failed before allauth's own error handling
        return render_authentication_error(request, adapter.get_provider(), exception=error)


@login_not_required
@require_GET
def callback(request: HttpRequest, provider_id: str) -> HttpResponseBase:
    """Where the provider sends the browser back with a code (and our state)."""
    try:
        view = _CallbackView.adapter_view(PlumbOIDCAdapter(request, provider_id))
        return view(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such sign-in provider.") from None


@login_not_required
@require_GET
def back_to_login(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
    """allauth's "cancelled" and "error" pages: the login page says what happened."""
    return redirect("login")
