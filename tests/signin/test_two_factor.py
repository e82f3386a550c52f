"""Two-factor: enrolment with a server-drawn QR code, the code step at login, replay and
brute force, recovery codes, regeneration, an admin's reset."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from crm.models import AuditLog
from signin.models import RecoveryCode
from tests.signin.helpers import code_step, enrol, password_step, totp

pytestmark = pytest.mark.django_db


def test_the_enrolment_page_draws_the_qr_code_itself_and_shows_the_secret(client, rep):
    client.force_login(rep)
    page = client.get(reverse("signin:two_factor"))
    html = page.content.decode()
    assert page.status_code == 200
    qr = re.search(r'<div class="qr[^>]*>(.*?)</div>', html, re.S).group(1)
    assert qr.lstrip().startswith("<svg")
    assert "<path" in qr
    assert "<img" not in html.split('id="totp-qr"')[1].split("</div>")[0]
    secret = page.context["enrolment"].secret
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert page.context["enrolment"].grouped_secret in html
    assert f"secret={secret}" in page.context["enrolment"].uri
    assert "href" not in qr
    assert "src=" not in qr


def test_enrolment_completes_only_with_a_valid_code(client, rep):
    client.force_login(rep)
    secret = client.get(reverse("signin:two_factor")).context["enrolment"].secret
    for bad in ("12345", "abcdef", totp(secret, step_offset=5)):
        response = client.post(reverse("signin:two_factor"), {"code": bad})
        assert response.status_code == 422
    assert not Authenticator.objects.filter(user=rep).exists()
    done = client.post(reverse("signin:two_factor"), {"code": totp(secret)})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    html = done.content.decode()
    assert all(code in html for code in codes)
    stored = list(RecoveryCode.objects.filter(user=rep).values_list("digest", flat=True))
    assert len(stored) == 10
    assert not set(codes) & set(stored)
    assert AuditLog.objects.filter(action="user.2fa_enrol", target_id=str(rep.pk)).exists()
    again = client.get(reverse("signin:two_factor"))  # shown once: the status page has none
    assert not any(code in again.content.decode() for code in codes)


def test_sign_in_with_two_factor_asks_for_a_code_before_any_session(client, rep):
    client.force_login(rep)
    secret, _ = enrol(client, rep)
    client.logout()
    first = password_step(client, rep.username)
    assert first.status_code == 302
    assert first["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still signed out
    done = code_step(client, totp(secret, step_offset=1))
    assert done.status_code == 302
    assert done["Location"] == "/"
    assert client.session["_auth_user_id"] == str(rep.pk)


def test_a_used_code_is_refused_within_its_window(client, rep):
    client.force_login(rep)
    secret, _ = enrol(client, rep)  # the enrolment spent the current step
    client.logout()
    password_step(client, rep.username)
    replayed = code_step(client, totp(secret))
    assert replayed.status_code == 200
    assert "already used" in replayed.content.decode()
    assert "_auth_user_id" not in client.session
    assert code_step(client, totp(secret, step_offset=1)).status_code == 302
    other = Client()
    password_step(other, rep.username, ip="10.1.1.2")
    again = code_step(other, totp(secret, step_offset=1), ip="10.1.1.2")
    assert "already used" in again.content.decode()
    assert "_auth_user_id" not in other.session


def test_a_malformed_code_gets_a_clear_message(client, rep):
    client.force_login(rep)
    enrol(client, rep)
    client.logout()
    password_step(client, rep.username)
    response = code_step(client, "12-ab")
    assert response.status_code == 200
    assert "Enter the 6-digit code" in response.content.decode()


def test_brute_forced_codes_lock_the_login_out_like_passwords(client, rep):
    client.force_login(rep)
    enrol(client, rep)
    client.logout()
    password_step(client, rep.username, "wrong")
    password_step(client, rep.username, "wrong")
    password_step(client, rep.username)
    assert code_step(client, "000000").status_code == 200
    assert code_step(client, "000001").status_code == 200
    locked = code_step(client, "000002")  # the fifth failure of this username + IP
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert code_step(client, "000003")["Location"] == reverse("login")  # the attempt is gone
    assert password_step(client, rep.username).status_code == 429  # even the right password


def test_a_recovery_code_works_once(client, rep):
    client.force_login(rep)
    _, codes = enrol(client, rep)
    client.logout()
    password_step(client, rep.username)
    assert code_step(client, codes[0].upper().replace("-", " ")).status_code == 302
    client.logout()
    password_step(client, rep.username)
    second = code_step(client, codes[0])
    assert second.status_code == 200
    assert "does not match" in second.content.decode()
    assert RecoveryCode.objects.filter(user=rep, used_at__isnull=False).count() == 1


def test_new_recovery_codes_void_the_old_ones(client, rep):
    client.force_login(rep)
    _, old = enrol(client, rep)
    fresh = client.post(reverse("signin:regenerate_recovery_codes")).context["codes"]
    assert not set(old) & set(fresh)
    client.logout()
    password_step(client, rep.username)
    assert code_step(client, old[1]).status_code == 200
    assert code_step(client, fresh[1]).status_code == 302


def test_turning_two_factor_off_needs_a_current_code(client, rep):
    client.force_login(rep)
    secret, _ = enrol(client, rep)
    client.post(reverse("signin:disable_two_factor"), {"code": "123456"})
    assert Authenticator.objects.filter(user=rep).exists()
    client.post(reverse("signin:disable_two_factor"), {"code": totp(secret, step_offset=1)})
    assert not Authenticator.objects.filter(user=rep).exists()
    assert not RecoveryCode.objects.filter(user=rep).exists()


def test_an_admin_resets_a_users_two_factor_and_the_user_is_told(
    client, rep, admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(rep)
    enrol(client, rep)
    admin = Client()
    admin.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("signin:reset_two_factor", args=[rep.pk]))
    assert not Authenticator.objects.filter(user=rep).exists()
    assert client.get("/").status_code == 302  # their session ended
    assert AuditLog.objects.filter(action="user.2fa_reset", actor=admin_user).exists()
    (message,) = mailoutbox
    assert message.to == [rep.email]
    assert "reset the two-factor" in message.body


def test_only_admins_reset_two_factor(client, rep, manager):
    other = Client()
    other.force_login(rep)
    enrol(other, rep)
    client.force_login(manager)
    assert client.post(reverse("signin:reset_two_factor", args=[rep.pk])).status_code == 403
    assert Authenticator.objects.filter(user=rep).exists()


def test_a_code_from_long_ago_is_wrong(client, rep):
    client.force_login(rep)
    secret, _ = enrol(client, rep)
    client.logout()
    password_step(client, rep.username)
    assert "does not match" in code_step(client, totp(secret, step_offset=-10)).content.decode()
