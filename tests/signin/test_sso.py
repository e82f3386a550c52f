"""Single sign-on against a real OpenID Connect provider on loopback (tests/oidc_provider):
discovery, JWKS and the code exchange over HTTP, and every way it must refuse."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.messages import get_messages
from django.urls import reverse

from crm.models import AuditLog, User
from signin.models import SecurityPolicy
from tests.signin.helpers import code_step, enrol, sso, totp

pytestmark = pytest.mark.django_db


def _message(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def _signed_in(client) -> str | None:
    return client.session.get("_auth_user_id")


def test_the_authorization_request_carries_pkce_state_and_nonce(client, oidc, rep):
    start = client.post(reverse("openid_connect_login", args=["test"]))
    query = parse_qs(urlsplit(start["Location"]).query)
    assert start["Location"].startswith(f"{oidc.issuer}/authorize/")
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"]
    assert query["state"]
    assert query["nonce"]
    assert query["response_type"] == ["code"]
    assert "openid" in query["scope"][0].split()


def test_an_existing_user_with_a_verified_matching_email_signs_in_and_it_is_audited(
    client, oidc, rep
):
    done = sso(client)
    assert done.status_code == 302
    assert done["Location"] == "/"
    assert _signed_in(client) == str(rep.pk)
    assert SocialAccount.objects.get(user=rep).uid  # the provider's subject, linked to rep
    entry = AuditLog.objects.get(action="user.sso_login", target_id=str(rep.pk))
    assert entry.changes == {"provider": "test"}
    client.logout()
    assert sso(client).status_code == 302
    assert _signed_in(client) == str(rep.pk)


def test_a_user_with_two_factor_still_gives_a_code_after_sso(client, oidc, rep):
    client.force_login(rep)
    secret, _ = enrol(client, rep)
    client.logout()
    middle = sso(client)
    assert middle["Location"] == reverse("mfa_authenticate")
    assert _signed_in(client) is None
    assert code_step(client, totp(secret, step_offset=1)).status_code == 302
    assert _signed_in(client) == str(rep.pk)


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("wrong_nonce", "does not carry this sign-in's nonce"),
        ("expired", "ID token has expired"),
        ("wrong_audience", "issued to another application"),
        ("bad_signature", "signature does not verify"),
    ],
)
def test_a_token_that_cannot_be_trusted_signs_nobody_in(client, oidc, rep, mode, says):
    oidc.act(mode=mode)
    response = sso(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert says in _message(response)
    assert _signed_in(client) is None
    entry = AuditLog.objects.get(action="signin.sso_failed")
    assert entry.target_id == "test"
    assert says in entry.changes["reason"]


def test_a_broken_discovery_document_is_explained(client, oidc, rep):
    oidc.act(mode="broken_discovery")
    response = sso(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "discovery document is not valid JSON" in _message(response)
    assert _signed_in(client) is None
    assert AuditLog.objects.filter(action="signin.sso_failed").exists()


def test_a_callback_without_state_is_refused(client, oidc, rep):
    response = client.get(reverse("openid_connect_callback", args=["test"]) + "?code=abc")
    assert response["Location"] == reverse("login")
    assert "not started here" in _message(response)
    assert _signed_in(client) is None


def test_an_unverified_email_is_refused(client, oidc, rep):
    oidc.act(email_verified=False)
    response = sso(client)
    assert "has not verified your e-mail address" in _message(response)
    assert _signed_in(client) is None
    assert not SocialAccount.objects.exists()


def test_a_deactivated_user_cannot_sign_in_with_sso(client, oidc, rep):
    assert sso(client).status_code == 302
    client.logout()
    User.objects.filter(pk=rep.pk).update(is_active=False)
    response = sso(client)
    assert "deactivated" in _message(response)
    assert _signed_in(client) is None
    assert AuditLog.objects.filter(action="user.sso_refused", target_id=str(rep.pk)).exists()


def test_nobody_is_created_for_an_unknown_email_by_default(client, oidc, rep):
    oidc.act(email="stranger@elsewhere.example", sub="stranger")
    response = sso(client)
    assert "no Plumb account uses stranger@elsewhere.example" in _message(response)
    assert not User.objects.filter(email="stranger@elsewhere.example").exists()


def test_just_in_time_creation_for_an_allowed_domain(client, oidc, org):
    SecurityPolicy.objects.create(
        pk=1, jit_domains="newco.example", jit_role=User.Role.MARKETING, jit_team=org["team_b"]
    )
    oidc.act(email="Nina@NewCo.example", sub="nina", name="Nina New")
    response = sso(client)
    assert response.status_code == 302
    nina = User.objects.get(email__iexact="nina@newco.example")
    assert (nina.role, nina.team, nina.has_usable_password()) == (
        User.Role.MARKETING,
        org["team_b"],
        False,
    )
    assert _signed_in(client) == str(nina.pk)
    assert AuditLog.objects.filter(action="user.create", target_id=str(nina.pk)).exists()


def test_the_login_page_offers_the_provider(client, oidc):
    html = client.get(reverse("login")).content.decode()
    assert "Sign in with Test IdP" in html
    assert 'action="/sso/test/login/"' in html


def test_starting_a_sign_in_needs_a_post(client, oidc):
    assert client.get(reverse("openid_connect_login", args=["test"])).status_code == 405
    assert client.post(reverse("openid_connect_login", args=["nope"])).status_code == 404
