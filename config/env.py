"""Environment parsing for settings: every helper refuses a bad value with one clear line."""

from __future__ import annotations

import os
import re
import sys
import tomllib
from email.utils import parseaddr
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "on"}
_FALSE = {"0", "false", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, *, default: bool) -> bool:
    """`true/false/1/0/on/off`, nothing else: "yes" is refused rather than guessed."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use true or false.")


def env_int(name: str, *, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} is too small: use {minimum} or more.")
    return value


def site_url(raw: str) -> str:
    """SITE_URL, the base of links in e-mails; its host also names Plumb's Message-IDs."""
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(
            f"SITE_URL must be the address users open, e.g. https://crm.example.com, not {raw!r}."
        )
    return raw.rstrip("/")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def database_config(url: str, *, sqlite_path: str) -> dict[str, Any]:
    """DATABASE_URL (postgres:// or sqlite:///path) or, when empty, the embedded SQLite file."""

    if not url:
        return sqlite_config(sqlite_path)
    scheme = urlsplit(url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgres:// or sqlite:///, not {scheme or url!r}."
        )
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed ({error}).") from None
    if config["ENGINE"].endswith("sqlite3"):
        return sqlite_config(config["NAME"])
    if not config.get("NAME"):
        raise ImproperlyConfigured(
            "DATABASE_URL names no database: use postgres://user@host:5432/dbname."
        )
    return dict(config)


def sqlite_config(path: str) -> dict[str, Any]:
    # WAL lets readers run beside the writer (web + worker + beat share the file);
    # IMMEDIATE takes the write lock at BEGIN so two writers queue instead of deadlocking.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            " PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000;",
        },
    }


def redis_url(url: str) -> str:
    """Validate REDIS_URL: redis://[:password@]host[:port][/db] or rediss://."""
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise ImproperlyConfigured(f"REDIS_URL must look like redis://host:6379/0, not {url!r}.")
    try:
        parts.port  # noqa: B018 -- urlsplit only validates the port when asked
    except ValueError:
        raise ImproperlyConfigured(f"REDIS_URL has a bad port: {url!r}.") from None
    return url


_EMAIL_QUERY = {"tls"}


def email_config(url: str, *, debug: bool) -> dict[str, object]:
    """EMAIL_URL: `smtp://user:pass@host:587` (STARTTLS; `?tls=false` for a plain local relay),
    `smtps://user:pass@host:465` (implicit TLS), `console://` or `file:///path`.

    Implicit TLS and STARTTLS are never both on: `smtps://…?tls=true` is refused, as are an
    unknown scheme, an unknown option and a bad port, each with one line naming EMAIL_URL."""
    if not url:
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parts = urlsplit(url)
    if parts.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme == "file":
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": parts.path,
        }
    shown = _without_password(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ImproperlyConfigured(
            "EMAIL_URL must be smtp://user:pass@host:587 (STARTTLS), smtps://…:465 (implicit "
            f"TLS), console:// or file:///path, not {shown!r}."
        )
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"EMAIL_URL has a bad port: {shown!r}.") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _EMAIL_QUERY)
    if unknown:
        raise ImproperlyConfigured(
            f"EMAIL_URL has unknown option(s) {', '.join(unknown)}: only ?tls=true|false is read."
        )
    tls_raw = query.get("tls", [""])[-1].strip().lower()
    if tls_raw and tls_raw not in _TRUE | _FALSE:
        raise ImproperlyConfigured(f"EMAIL_URL has tls={tls_raw!r}: use tls=true or tls=false.")
    implicit = parts.scheme == "smtps"
    if implicit and tls_raw in _TRUE:
        raise ImproperlyConfigured(
            "EMAIL_URL: smtps:// is implicit TLS already; STARTTLS (?tls=true) is for smtp://. "
            "Use one of them, never both."
        )
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or (465 if implicit else 587),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": implicit,
        # STARTTLS unless told otherwise (a relay on localhost may speak plain SMTP).
        "EMAIL_USE_TLS": not implicit and tls_raw not in {"0", "false", "off"},
    }


def _without_password(url: str) -> str:
    """The URL as an error message may show it: the password replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def secret_key(raw: str, *, debug: bool) -> str:
    """SECRET_KEY: required unless DEBUG, and long and varied enough to sign sessions with
    (the thresholds of Django's own deploy check: 50 characters, 5 different ones)."""
    if not raw:
        if not debug:
            raise ImproperlyConfigured(
                "SECRET_KEY is not set. Set SECRET_KEY to a long random string, or DEBUG=true for development."
            )
        return "django-insecure-development-only-key-do-not-use-in-production"
    if not debug and (len(raw) < 50 or len(set(raw)) < 5 or raw.startswith("django-insecure-")):
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak ({len(raw)} characters, {len(set(raw))} different): use 50 "
            "or more random ones, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
    return raw


def allowed_hosts(*, debug: bool) -> list[str]:
    """ALLOWED_HOSTS, comma-separated. Without DEBUG there is no sane default, so refuse."""
    hosts = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if debug else "")
    if not hosts:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is empty: with DEBUG=false name the host names this install answers "
            "to, e.g. ALLOWED_HOSTS=crm.example.com."
        )
    return hosts


def env_choice(name: str, choices: tuple[str, ...], *, default: str) -> str:
    value = env_str(name, default).lower() or default
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name}={os.environ.get(name)!r} is not one of: {', '.join(choices)}."
        )
    return value


_RATE = re.compile(r"(\d+)/(s|sec|second|m|min|minute|h|hour|d|day)")


def env_rate(name: str, *, default: str) -> str | None:
    """An API rate such as `120/min` (DRF's n/period), or `off` (None: not throttled)."""
    value = env_str(name).lower() or default
    if value in {"off", "0", "none"}:
        return None
    if not _RATE.fullmatch(value):
        raise ImproperlyConfigured(
            f"{name}={os.environ.get(name)!r} is not a rate: use e.g. 120/min, 10/s, 5000/hour or off."
        )
    return value


def admins(name: str = "ADMINS") -> list[tuple[str, str]]:
    """ADMINS: comma-separated `Name <address>` or bare addresses; they get 500 error mails."""
    people: list[tuple[str, str]] = []
    for item in env_list(name):
        person, address = parseaddr(item)
        if "@" not in address or " " in address:
            raise ImproperlyConfigured(
                f"{name} has {item!r}, not an e-mail address: use Ann <ann@example.com>,bob@example.com."
            )
        people.append((person or address, address))
    return people


def sentry_config(dsn: str, *, release: str, environment: str) -> bool:
    """Start Sentry error reporting when SENTRY_DSN is set (the `plumb-crm[sentry]` extra)."""
    if not dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.celery import CeleryIntegration
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        raise ImproperlyConfigured(
            "SENTRY_DSN is set but sentry-sdk is not installed: pip install 'plumb-crm[sentry]'."
        ) from None
    try:
        sentry_sdk.init(
            dsn=dsn,
            release=f"plumb-crm@{release}",
            environment=environment,
            integrations=[DjangoIntegration(), CeleryIntegration()],
            send_default_pii=False,  # no user names, IPs or bodies leave the building
            traces_sample_rate=0.0,
        )
    except Exception as error:  # sentry_sdk raises its own BadDsn, among others
        raise ImproperlyConfigured(f"SENTRY_DSN is not a valid DSN ({error}).") from None
    return True


def project_version(base_dir: Any) -> str:
    """The version in pyproject.toml (the source of truth), else the installed package's."""
    pyproject = Path(base_dir) / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        pass
    try:
        return metadata.version("plumb-crm")
    except metadata.PackageNotFoundError:
        return "unknown"


def load_settings_or_exit(program: str = "Plumb") -> None:
    """Load Django's settings now; a configuration error prints one line and exits with 2.

    manage.py, the WSGI entry point (gunicorn) and the Celery app call this, so every process
    refuses bad configuration the same way instead of with a traceback.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 -- touching a setting loads the module
    except ImproperlyConfigured as error:
        sys.stderr.write(f"{program} is not configured: {error}\n")
        sys.stderr.flush()
        os._exit(2)  # not SystemExit: gunicorn and Celery would catch it and print a traceback


def oidc_apps_from_env() -> list[dict[str, Any]]:
    """One OpenID Connect provider from OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
    (optional OIDC_NAME, the button's label, and OIDC_ID, the slug in its callback URL).
    Admins add more under Settings → Security; an empty OIDC_ISSUER means none from here."""
    issuer = env_str("OIDC_ISSUER")
    if not issuer:
        return []
    parts = urlsplit(issuer)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ImproperlyConfigured(f"OIDC_ISSUER must be an https:// URL, not {issuer!r}.")
    client_id = env_str("OIDC_CLIENT_ID")
    if not client_id:
        raise ImproperlyConfigured("OIDC_ISSUER is set but OIDC_CLIENT_ID is not.")
    slug = env_str("OIDC_ID", "sso")
    if not slug.replace("-", "").isalnum():
        raise ImproperlyConfigured(f"OIDC_ID must be letters, digits and dashes, not {slug!r}.")
    return [
        {
            "provider_id": slug,
            "name": env_str("OIDC_NAME", "Single sign-on"),
            "client_id": client_id,
            "secret": env_str("OIDC_CLIENT_SECRET"),
            "settings": {"server_url": issuer},
        }
    ]
