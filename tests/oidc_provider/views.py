"""The provider's behaviour: who is signed in, which claims it vouches for, how it misbehaves."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from jwcrypto import jwk, jwt
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import ConnectDiscoveryInfoView

from tests.oidc_provider import control

ROGUE_KEY = jwk.JWK.generate(kty="RSA", size=2048)  # signs tokens the JWKS cannot verify


class SignedInAsControlledUser:
    """Everyone at this provider is the identity named in control.json (no login form)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        wanted = control.read()
        user, _ = User.objects.get_or_create(username=wanted["sub"])
        request.user = user
        return self.get_response(request)


class Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim, whatever the scopes

    def validate_redirect_uri(
        self, client_id: str, redirect_uri: str, request: Any, *a: Any, **k: Any
    ) -> bool:
        return urlsplit(redirect_uri).hostname in {"127.0.0.1", "localhost", "testserver"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        wanted = control.read()
        return {
            "email": wanted["email"],
            "email_verified": wanted["email_verified"],
            "name": wanted["name"],
            "preferred_username": wanted["sub"],
        }

    def get_id_token_dictionary(self, token: Any, token_handler: Any, request: Any) -> Any:
        claims, expiration = super().get_id_token_dictionary(token, token_handler, request)
        mode = control.read()["mode"]
        if mode == "wrong_nonce":
            claims["nonce"] = "forged-nonce"
        elif mode == "expired":
            claims["exp"] = claims["exp"] - 2 * 86400
        elif mode == "wrong_audience":
            claims["aud"] = "another-client"
        return claims, expiration

    def finalize_id_token(self, id_token: Any, token: Any, token_handler: Any, request: Any) -> str:
        signed = super().finalize_id_token(
            id_token, token_handler=token_handler, token=token, request=request
        )
        if control.read()["mode"] != "bad_signature":
            return signed
        header, payload, _ = signed.split(".")

        def unb64(part: str) -> str:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()

        forged = jwt.JWT(header=unb64(header), claims=unb64(payload))
        forged.make_signed_token(ROGUE_KEY)  # same kid in the header, another key
        return forged.serialize()


def discovery(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    if control.read()["mode"] == "broken_discovery":
        return HttpResponse(
            "<html>not a discovery document</html>", content_type="application/json"
        )
    return ConnectDiscoveryInfoView.as_view()(request, *args, **kwargs)


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse(json.dumps({"ok": True}), content_type="application/json")
