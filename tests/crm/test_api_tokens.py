from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import ApiToken
from tests.factories import make_token

pytestmark = pytest.mark.django_db


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_authenticates_as_its_user_and_reports_scopes(client, marketing):
    token = make_token(marketing, ["leads:write", "read:all"])
    response = client.get("/api/v1/me/", headers=auth(token))
    assert response.status_code == 200
    assert response.json()["user"]["username"] == marketing.username
    assert response.json()["scopes"] == ["leads:write", "read:all"]
    assert ApiToken.objects.get().last_used_at is not None


def test_token_is_stored_hashed(marketing):
    text = make_token(marketing, ["leads:read"])
    token = ApiToken.objects.get()
    assert text.split("_")[-1] not in token.digest
    assert len(token.digest) == 64


def test_missing_scope_is_403_naming_it(client, marketing):
    token = make_token(marketing, ["leads:write"])
    response = client.get("/api/v1/me/", headers=auth(token))
    assert response.status_code == 403
    assert "read:all" in response.json()["detail"]


@pytest.mark.parametrize("bad", ["plumb_nope_nope", "garbage", "plumb__x"])
def test_bad_token_is_401(client, bad):
    response = client.get("/api/v1/me/", headers=auth(bad))
    assert response.status_code == 401


def test_revoked_token_is_401(client, marketing):
    token = make_token(marketing, ["read:all"])
    ApiToken.objects.update(revoked_at=timezone.now())
    response = client.get("/api/v1/me/", headers=auth(token))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_token_of_a_deactivated_user_is_401(client, marketing):
    token = make_token(marketing, ["read:all"])
    marketing.is_active = False
    marketing.save()
    assert client.get("/api/v1/me/", headers=auth(token)).status_code == 401


def test_create_api_token_command_prints_the_token_alone_on_its_last_line(client, marketing):
    out = StringIO()
    call_command(
        "create_api_token",
        "--user",
        marketing.username,
        "--scopes",
        "leads:write,read:all",
        stdout=out,
        stderr=StringIO(),
    )
    token = out.getvalue().strip().splitlines()[-1]
    assert token.startswith("plumb_")
    assert client.get("/api/v1/me/", headers=auth(token)).status_code == 200


def test_create_api_token_command_refuses_unknown_scopes(marketing):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_token", "--user", marketing.username, "--scopes", "leads:eat")


def test_admin_creates_a_token_in_settings_and_sees_it_once(client, admin_user, marketing):
    client.force_login(admin_user)
    response = client.post(
        "/settings/tokens/",
        {"name": "HubSpot sync", "user": marketing.pk, "scopes": ["leads:write"]},
    )
    assert response.status_code == 200
    assert 'id="new-token"' in response.content.decode()
    assert ApiToken.objects.get().user == marketing
    again = client.get("/settings/tokens/").content.decode()
    assert 'id="new-token"' not in again


def test_non_admins_cannot_manage_tokens(client, rep):
    client.force_login(rep)
    assert client.get("/settings/tokens/").status_code == 403
