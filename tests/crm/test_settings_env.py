from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import database_config, email_config, env_bool, redis_url

ROOT = Path(__file__).resolve().parents[2]


def test_env_bool_accepts_true_false_and_refuses_yes(monkeypatch):
    monkeypatch.setenv("FLAG", "true")
    assert env_bool("FLAG", default=False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", default=True) is False
    monkeypatch.setenv("FLAG", "yes")
    with pytest.raises(ImproperlyConfigured, match="FLAG='yes' is not a boolean"):
        env_bool("FLAG", default=False)


def test_empty_database_url_means_sqlite_with_wal_and_immediate_transactions(tmp_path):
    config = database_config("", sqlite_path=str(tmp_path / "crm.sqlite3"))
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_postgres_database_url_is_parsed():
    config = database_config("postgres://u:p@db.example:5433/plumb", sqlite_path="x")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.example", 5433, "plumb")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "must start with postgres://"),
        ("postgres://u@h:5432/", "names no database"),
        ("nonsense", "must start with postgres://"),
    ],
)
def test_malformed_database_url_is_refused_with_a_clear_message(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        database_config(url, sqlite_path="x")


@pytest.mark.parametrize("url", ["http://localhost:6379", "redis://", "redis://host:notaport/0"])
def test_malformed_redis_url_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        redis_url(url)


def test_email_url_smtp_is_parsed():
    config = email_config("smtp://me%40x.com:secret@mail.example:2525", debug=False)
    assert config["EMAIL_HOST"] == "mail.example"
    assert config["EMAIL_PORT"] == 2525
    assert config["EMAIL_HOST_USER"] == "me@x.com"
    assert config["EMAIL_USE_TLS"] is True


def test_smtps_is_implicit_tls_and_smtp_starttls_never_both():
    implicit = email_config("smtps://mail.example", debug=False)
    assert (implicit["EMAIL_USE_SSL"], implicit["EMAIL_USE_TLS"], implicit["EMAIL_PORT"]) == (
        True,
        False,
        465,
    )
    starttls = email_config("smtp://mail.example?tls=true", debug=False)
    assert (starttls["EMAIL_USE_SSL"], starttls["EMAIL_USE_TLS"]) == (False, True)
    plain = email_config("smtp://127.0.0.1:2525?tls=false", debug=False)
    assert (plain["EMAIL_USE_SSL"], plain["EMAIL_USE_TLS"]) == (False, False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("smtps://mail.example?tls=true", "never both"),
        ("smtp://mail.example?tls=maybe", "tls='maybe'"),
        ("smtp://mail.example?ssl=true", "unknown option(s) ssl"),
        ("smtp://mail.example:port", "bad port"),
        ("imap://mail.example", "EMAIL_URL must be smtp://"),
        ("smtp://", "EMAIL_URL must be smtp://"),
    ],
)
def test_a_bad_email_url_is_refused(url, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        email_config(url, debug=False)


def test_the_password_in_a_bad_email_url_is_not_repeated():
    with pytest.raises(ImproperlyConfigured) as error:
        email_config("smtp://user:hunter2@mail.example?tls=maybe&x=1", debug=False)
    assert "hunter2" not in str(error.value)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "PLUMB_VAR_DIR": str(ROOT / "var"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false"}, "SECRET_KEY is not set"),
        ({"DEBUG": "true", "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must start with"),
        ({"DEBUG": "true", "REDIS_URL": "localhost:6379"}, "REDIS_URL must look like"),
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "true", "EMAIL_URL": "imap://mail.example"}, "EMAIL_URL must be smtp://"),
        (
            {"DEBUG": "true", "EMAIL_URL": "smtps://u:secret@mail.example?tls=true"},
            "smtps:// is implicit TLS already",
        ),
        ({"DEBUG": "true", "EMAIL_TIMEOUT": "0"}, "EMAIL_TIMEOUT='0' is too small"),
        ({"DEBUG": "true", "SITE_URL": "crm.example.com"}, "SITE_URL must be the address"),
    ],
)
def test_bad_configuration_prints_one_line_not_a_traceback(env, message):
    result = _manage("check", **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_production_settings_start_with_a_secret_key():
    key = secrets.token_urlsafe(50)
    result = _manage("check", DEBUG="false", SECRET_KEY=key, ALLOWED_HOSTS="crm.example")
    assert result.returncode == 0, result.stderr
