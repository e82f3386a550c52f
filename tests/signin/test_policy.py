"""Settings → Security: who must use two-factor (enforced on every page), SSO only with a
break-glass admin, API tokens untouched, admins only, passwords at least 12 characters."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from crm.models import AuditLog
from signin.models import SecurityPolicy
from signin.policy import refresh
from tests.factories import make_token
from tests.signin.helpers import enrol, password_step

pytestmark = pytest.mark.django_db


def _policy(**values) -> SecurityPolicy:
    row, _ = SecurityPolicy.objects.update_or_create(pk=1, defaults=values)
    refresh(row)
    return row


def test_admins_and_managers_must_enrol_under_staff_policy_reps_need_not(client, rep, manager):
    _policy(two_factor_required=SecurityPolicy.TwoFactor.STAFF)
    client.force_login(manager)
    response = client.get(reverse("leads:list"))
    assert response.status_code == 302
    assert response["Location"] == reverse("signin:two_factor")
    page = client.get(response["Location"])
    assert "requires two-factor" in page.content.decode()
    client.force_login(rep)
    assert client.get(reverse("leads:list")).status_code == 200


def test_an_enrolled_user_passes_and_logout_always_works(client, rep):
    _policy(two_factor_required=SecurityPolicy.TwoFactor.EVERYONE)
    client.force_login(rep)
    assert client.get("/").status_code == 302
    enrol(client, rep)
    assert client.get("/").status_code == 200
    other = Client()
    other.force_login(rep)  # a session that signed in with two-factor on
    assert other.get("/").status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_enforcement_answers_403_to_htmx_and_session_api_calls(client, rep):
    _policy(two_factor_required=SecurityPolicy.TwoFactor.EVERYONE)
    client.force_login(rep)
    htmx = client.get(reverse("crm:notification_bell"), headers={"HX-Request": "true"})
    assert htmx.status_code == 403
    assert htmx["HX-Redirect"] == reverse("signin:two_factor")
    api = client.get("/api/v1/me/")
    assert api.status_code == 403
    assert "two-factor" in api.json()["detail"]


def test_api_tokens_are_unaffected_by_the_policy(client, rep):
    _policy(two_factor_required=SecurityPolicy.TwoFactor.EVERYONE)
    token = make_token(rep, ["read:all"])
    response = client.get("/api/v1/me/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_sso_only_refuses_passwords_but_for_the_break_glass_admin(client, rep, admin_user):
    _policy(sso_only=True, break_glass_user=admin_user)
    refused = password_step(client, rep.username)
    assert refused.status_code == 200
    assert "single sign-on only" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert password_step(client, admin_user.username).status_code == 302


def test_sso_only_sends_no_password_reset_but_to_the_break_glass_admin(client, rep, admin_user):
    _policy(sso_only=True, break_glass_user=admin_user)
    client.post(reverse("signin:password_reset"), {"email": rep.email})
    assert mail.outbox == []


def test_the_security_page_is_for_admins(client, rep, manager, admin_user):
    for user in (rep, manager):
        client.force_login(user)
        assert client.get(reverse("signin:security")).status_code == 403
        assert client.post(reverse("signin:security"), {"sso_only": "on"}).status_code == 403
    client.force_login(admin_user)
    assert client.get(reverse("signin:security")).status_code == 200


def test_an_admin_saves_the_policy_and_it_is_audited(client, admin_user, rep):
    client.force_login(admin_user)
    enrol(client, admin_user)
    response = client.post(
        reverse("signin:security"),
        {
            "two_factor_required": "everyone",
            "idle_timeout_minutes": 60,
            "absolute_lifetime_hours": 48,
            "jit_domains": "@Acme.example, beta.example",
            "jit_role": "rep",
        },
    )
    assert response.status_code == 302
    row = SecurityPolicy.objects.get(pk=1)
    assert (row.two_factor_required, row.jit_domains) == ("everyone", "acme.example, beta.example")
    entry = AuditLog.objects.get(action="security.policy")
    assert entry.changes["two_factor_required"] == ["nobody", "everyone"]
    other = Client()
    other.force_login(rep)
    assert other.get("/").status_code == 302  # in force at once


def test_sso_only_needs_a_provider_and_an_active_admin_as_break_glass(client, admin_user):
    client.force_login(admin_user)
    data = {"sso_only": "on", "idle_timeout_minutes": 720, "absolute_lifetime_hours": 336}
    data["two_factor_required"] = "nobody"
    data["jit_role"] = "rep"
    response = client.post(reverse("signin:security"), data)
    assert response.status_code == 422, response.context["form"].errors
    assert "active admin" in response.content.decode(), response.context["form"].errors
    response = client.post(reverse("signin:security"), data | {"break_glass_user": admin_user.pk})
    assert "provider first" in response.content.decode()
    assert not SecurityPolicy.objects.filter(sso_only=True).exists()


def test_an_admin_adds_an_oidc_provider(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("signin:provider_new"),
        {
            "name": "Acme SSO",
            "provider_id": "acme",
            "issuer": "https://login.acme.example/realms/acme",
            "client_id": "plumb",
            "secret": "s3cret",
        },
    )
    assert response.status_code == 302
    html = Client().get(reverse("login")).content.decode()
    assert "Sign in with Acme SSO" in html
    entry = AuditLog.objects.get(action="security.provider_create")
    assert "s3cret" not in str(entry.changes)
    bad = client.post(
        reverse("signin:provider_new"),
        {"name": "x", "provider_id": "Bad Id", "issuer": "http://idp.example", "client_id": "c"},
    )
    assert bad.status_code == 422
    assert "https://" in bad.content.decode()


@pytest.mark.parametrize("password", ["short-pw1", "password1234", "rep_alice_2024"])
def test_weak_passwords_are_refused_on_change(client, rep, password):
    client.force_login(rep)
    response = client.post(
        reverse("settings:password"),
        {"old_password": "pw", "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 422
    rep.refresh_from_db()
    assert rep.check_password("pw")


def test_the_settings_pages_link_to_security_two_factor_and_sessions(client, rep, admin_user):
    client.force_login(rep)
    index = client.get(reverse("crm:settings")).content.decode()
    assert reverse("signin:security") not in index
    profile = client.get(reverse("settings:profile")).content.decode()
    assert reverse("signin:two_factor") in profile
    assert reverse("signin:sessions") in profile
    client.force_login(admin_user)
    assert reverse("signin:security") in client.get(reverse("crm:settings")).content.decode()
