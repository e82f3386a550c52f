"""Production hardening: deploy checks, CSP, CSRF, login lockout, API throttling, bad input."""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.exceptions import ParseError

from crm.api.parsers import SafeJSONParser
from crm.csv_export import csv_lines, safe_cell
from crm.models import User
from leads.models import Lead
from tests.factories import LeadFactory, UserFactory, make_token

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_with_production_settings_reports_no_issue():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"}
    }
    env |= {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "crm.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_pages_send_a_csp_without_inline_scripts_and_carry_no_inline_script(client, rep):
    client.force_login(rep)
    response = client.get(reverse("crm:dashboard"))
    policy = response["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert script_src.strip() == "'self'"
    assert "frame-ancestors 'none'" in policy
    scripts = re.findall(r"<script([^>]*)>", response.content.decode())
    assert scripts
    assert all("src=" in attrs for attrs in scripts)


def test_swagger_ui_loads_its_script_from_a_url_not_inline(client, admin_user):
    client.force_login(admin_user)
    html = client.get(reverse("api-docs")).content.decode()
    assert "<script" in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # every script has a src


def test_an_htmx_post_without_the_csrf_token_is_refused(rep):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(rep)
    refused = csrf_client.post(
        reverse("crm:mark_notifications_read"), headers={"HX-Request": "true"}
    )
    assert refused.status_code == 403
    page = csrf_client.get(reverse("crm:dashboard"))
    token = re.search(r'"x-csrftoken": "([^"]+)"', page.content.decode()).group(1)
    accepted = csrf_client.post(
        reverse("crm:mark_notifications_read"),
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert accepted.status_code == 200


def test_a_session_authenticated_api_write_needs_the_csrf_token(admin_user):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(admin_user)
    response = csrf_client.post("/api/v1/me/", {}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# --- login lockout -----------------------------------------------------------------------------


def _login(client, username, password, ip="10.1.1.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_login_locks_out_after_five_failures_for_that_username_and_ip(client, rep, settings):
    for _ in range(4):
        assert _login(client, rep.username, "wrong").status_code == 200
    locked = _login(client, rep.username, "wrong")
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    assert int(locked["Retry-After"]) == 15 * 60
    still_locked = _login(client, rep.username, "pw")  # even the right password
    assert still_locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_an_admin_lifts_a_lockout_from_the_users_page(client, rep, admin_user):
    for _ in range(5):
        _login(client, rep.username, "wrong")
    admin = Client()
    admin.force_login(admin_user)
    admin.post(reverse("settings:user_unlock", args=[rep.pk]))
    assert _login(client, rep.username, "pw").status_code == 302


def test_a_lockout_does_not_block_the_same_user_from_another_ip_or_others(client, rep, other_rep):
    for _ in range(5):
        _login(client, rep.username, "wrong")
    assert _login(client, other_rep.username, "pw").status_code == 302
    client.logout()
    assert _login(client, rep.username, "pw", ip="10.9.9.9").status_code == 302


def test_a_successful_login_resets_the_failure_count(client, rep):
    for _ in range(4):
        _login(client, rep.username, "wrong")
    assert _login(client, rep.username, "pw").status_code == 302
    client.logout()
    for _ in range(4):
        assert _login(client, rep.username, "wrong").status_code == 200


# --- API token guessing --------------------------------------------------------------------------


def test_bad_api_tokens_are_throttled_with_retry_after(client, marketing, settings):
    settings.API_AUTH_FAILURE_LIMIT = 3
    good = make_token(marketing, ["read:all"])
    for _ in range(3):
        assert (
            client.get("/api/v1/me/", headers={"Authorization": "Bearer plumb_x_y"}).status_code
            == 401
        )
    throttled = client.get("/api/v1/me/", headers={"Authorization": f"Bearer {good}"})
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 61
    other_ip = client.get(
        "/api/v1/me/", headers={"Authorization": f"Bearer {good}"}, REMOTE_ADDR="10.2.2.2"
    )
    assert other_ip.status_code == 200


# --- bad input ---------------------------------------------------------------------------------


def test_an_oversized_api_body_gets_413_with_the_limit(client, admin_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    token = make_token(admin_user, ["read:all"])
    response = client.post(
        "/api/v1/me/",
        data="[" + "1," * 2000 + "1]",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 413
    assert "1.0\xa0KB" in response.json()["detail"] or "1.0 KB" in response.json()["detail"]


def test_an_oversized_form_field_in_a_multipart_post_gets_413_not_500(client, rep, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(rep)
    response = client.post(reverse("settings:profile"), {"first_name": "x" * 5000})
    assert response.status_code == 413
    assert "too large" in response.content.decode()
    rep.refresh_from_db()
    assert rep.first_name != "x" * 5000


def test_an_upload_over_the_upload_limit_is_refused_up_front(client, rep, settings):
    settings.MAX_UPLOAD_SIZE = 2048
    client.force_login(rep)
    upload = io.BytesIO(b"email\n" + b"a@b.example\n" * 1000)
    upload.name = "leads.csv"
    response = client.post(reverse("settings:profile"), {"file": upload})
    assert response.status_code == 413


def test_deeply_nested_json_is_a_400_not_a_crash():
    parser = SafeJSONParser()
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ParseError, match="nested deeper than 32"):
        parser.parse(io.BytesIO(deep.encode()), parser_context={})
    assert parser.parse(io.BytesIO(b'{"a": {"b": "[[[["}}'), parser_context={}) == {
        "a": {"b": "[[[["}
    }
    with pytest.raises(ParseError):
        parser.parse(io.BytesIO(b'{"a": NaN}'), parser_context={})
    with pytest.raises(ParseError, match="not valid"):
        parser.parse(io.BytesIO(b"\xff\xfe"), parser_context={})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1 555", "'+1 555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("Acme", "Acme"),
        (-12.5, -12.5),
        (None, ""),
    ],
)
def test_csv_cells_that_look_like_formulas_are_neutralised(value, expected):
    assert safe_cell(value) == expected


def test_csv_lines_neutralise_every_cell_including_the_header():
    text = "".join(csv_lines(["=name"], [["=1+1", "ok"]]))
    assert text.splitlines() == ["'=name", "'=1+1,ok"]


XSS = '<script>alert("pwn")</script>'


def test_html_in_names_is_rendered_escaped_on_every_page_that_shows_them(client, admin_user, rep):
    from crm.audit import record

    lead = LeadFactory(owner=rep, first_name=XSS, stage=Lead.Lifecycle.MQL)
    victim = UserFactory(username="xss_user", first_name=XSS, team=rep.team)
    record(actor=admin_user, action="lead.update", target=lead, changes={"note": [None, XSS]})
    client.force_login(rep)
    pages = [reverse("crm:dashboard")]
    for url in pages:
        html = client.get(url).content.decode()
        assert XSS not in html
    client.force_login(admin_user)
    for url in [
        reverse("settings:users"),
        reverse("settings:user_edit", args=[victim.pk]),
        reverse("settings:audit"),
        reverse("settings:history_leads", args=[lead.pk]),
    ]:
        html = client.get(url).content.decode()
        assert XSS not in html, url
        assert "&lt;script&gt;" in html, url


def test_the_request_id_and_client_ip_land_in_the_audit_entry(client, admin_user, rep):
    from crm.models import AuditLog

    client.force_login(admin_user)
    response = client.post(
        reverse("settings:user_deactivate", args=[rep.pk]),
        REMOTE_ADDR="10.7.7.7",
        headers={"X-Request-ID": "req-abc-12345"},
    )
    assert response["X-Request-ID"] == "req-abc-12345"
    entry = AuditLog.objects.get(action="user.deactivate")
    assert (entry.request_id, entry.ip_address) == ("req-abc-12345", "10.7.7.7")


def test_users_see_times_in_their_own_time_zone(client, rep):
    User.objects.filter(pk=rep.pk).update(time_zone="Asia/Tokyo")
    client.force_login(rep)
    response = client.get(reverse("crm:dashboard"))
    assert response.status_code == 200
    from django.utils import timezone

    assert timezone.get_current_timezone_name() == "UTC"  # reset after the request
