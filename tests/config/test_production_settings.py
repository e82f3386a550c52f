"""Production settings: bad configuration stops every process with one line; proxies and
HTTPS only when configured; gunicorn's conf; the version everywhere."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KEY = secrets.token_urlsafe(50)


def _run(*command: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}
        and not k.startswith(("API_RATE_", "LOG_", "SENTRY_", "TRUSTED_PROXY", "SECURE_"))
    }
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**clean, "PLUMB_VAR_DIR": str(ROOT / "var"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": KEY, "ALLOWED_HOSTS": "crm.example.com"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": "short-and-guessable"}, "SECRET_KEY is too weak (19 characters"),
        ({"SECRET_KEY": "x" * 60}, "SECRET_KEY is too weak (60 characters, 1 different)"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not one of: plain, json"),
        ({"API_RATE_IMPORT": "lots"}, "API_RATE_IMPORT='lots' is not a rate"),
        ({"ADMINS": "Ann <ann-at-example>"}, "ADMINS has 'Ann <ann-at-example>'"),
        ({"EMAIL_URL": "imap://mail"}, "EMAIL_URL must be smtp://"),
        ({"TRUSTED_PROXY_COUNT": "one"}, "TRUSTED_PROXY_COUNT='one' is not a whole number"),
    ],
)
def test_bad_production_configuration_is_refused_with_one_line(env, message):
    result = _run(sys.executable, "manage.py", "check", **(PRODUCTION | env))
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_sentry_dsn_without_the_extra_installed_is_refused_or_starts_sentry():
    env = PRODUCTION | {"SENTRY_DSN": "http://public@127.0.0.1:9/1"}
    try:
        import sentry_sdk  # noqa: F401
    except ImportError:
        result = _run(sys.executable, "manage.py", "check", **env)
        assert result.returncode == 2
        assert "pip install 'plumb-crm[sentry]'" in result.stderr
        return
    result = _run(  # with the extra: settings turn it on (nothing is sent: no error happens)
        sys.executable,
        "-c",
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SENTRY_ENABLED)",
        DJANGO_SETTINGS_MODULE="config.settings",
        **env,
    )
    assert result.stdout.strip() == "True", result.stderr


def test_gunicorn_refuses_bad_configuration_before_any_worker_boots():
    result = _run(str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--check-config", DEBUG="false")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Plumb's web server is not configured: SECRET_KEY is not set. Set SECRET_KEY to a long "
        "random string, or DEBUG=true for development."
    )


def test_celery_refuses_bad_configuration_with_one_line():
    result = _run(sys.executable, "-m", "celery", "-A", "config", "report", DEBUG="false")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Plumb's worker is not configured: SECRET_KEY")
    assert "Traceback" not in result.stderr


def _settings(code: str, **env: str) -> str:
    result = _run(
        sys.executable,
        "-c",
        f"import django; django.setup(); from django.conf import settings; print({code})",
        DJANGO_SETTINGS_MODULE="config.settings",
        **(PRODUCTION | env),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_x_forwarded_proto_is_trusted_only_behind_a_configured_proxy():
    header = "getattr(settings, 'SECURE_PROXY_SSL_HEADER', None)"
    assert _settings(header) == "None"
    assert _settings(header, TRUSTED_PROXY_COUNT="1") == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert _settings(header, SECURE_PROXY_SSL_HEADER="true") == (
        "('HTTP_X_FORWARDED_PROTO', 'https')"
    )


def test_gunicorn_conf_reads_port_workers_and_trusts_no_proxy_by_default():
    code = (
        "import runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "print(c['bind'], c['workers'], repr(c['forwarded_allow_ips']), c['wsgi_app'], "
        "c['max_requests'] > 0, c['max_requests_jitter'] > 0, c['accesslog'])"
    )
    result = _run(sys.executable, "-c", code, **PRODUCTION, PORT="9123", WEB_CONCURRENCY="3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "['0.0.0.0:9123']",
        "3",
        "''",
        "config.wsgi:application",
        "True",
        "True",
        "-",
    ]


@pytest.mark.django_db
def test_a_forged_x_forwarded_proto_without_a_trusted_proxy_is_not_https(client, settings):
    # given production's redirect, and no proxy configured (the default)
    settings.SECURE_SSL_REDIRECT = True
    assert getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is None
    # when a client claims HTTPS itself
    response = client.get(reverse("login"), headers={"X-Forwarded-Proto": "https"})
    # then it is still plain HTTP: redirected to HTTPS, not served
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


@pytest.mark.django_db
def test_every_page_shows_the_version_in_its_footer(client, rep, settings):
    client.force_login(rep)
    html = client.get(reverse("crm:dashboard")).content.decode()
    assert f'<span data-testid="version">{settings.PLUMB_VERSION}</span>' in html
    client.logout()
    login = client.get(reverse("login")).content.decode()
    assert settings.PLUMB_VERSION in login


def test_the_version_is_pyprojects():
    import tomllib

    from django.conf import settings

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version == settings.PLUMB_VERSION
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()


def test_livez_answers_without_database_and_for_any_host(client, settings):
    settings.ALLOWED_HOSTS = ["crm.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/livez", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok", "version": settings.PLUMB_VERSION}
