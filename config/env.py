"""Environment parsing for settings: every helper refuses a bad value with one clear line."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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


def env_int(name: str, *, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def database_config(url: str, *, sqlite_path: str) -> dict[str, Any]:
    """DATABASE_URL (postgres:// or sqlite:///path) or, when empty, the embedded SQLite file."""
    import dj_database_url

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


def email_config(url: str, *, debug: bool) -> dict[str, object]:
    """EMAIL_URL: smtp://user:pass@host:587?tls=true, smtps://…, console:// or file:///path."""
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
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ImproperlyConfigured(
            f"EMAIL_URL must be smtp://user:pass@host:587, smtps://…, console:// or file:///path, not {url!r}."
        )
    query = parse_qs(parts.query)
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": parts.port or (465 if parts.scheme == "smtps" else 587),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": parts.scheme == "smtps",
        "EMAIL_USE_TLS": query.get("tls", ["true" if parts.scheme == "smtp" else "false"])[0]
        in _TRUE,
    }


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
