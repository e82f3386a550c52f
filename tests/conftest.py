"""Shared fixtures: named role users (rep, other_rep, manager, marketing, admin), fast hashing,
eager Celery, and the PostgreSQL-only marker."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection

from config.celery import app as celery_app
from tests.factories import TeamFactory, UserFactory
from tests.lead_stage_guard import guard as lead_stage_guard
from tests.smtp_sink import SmtpSink

# The test OpenID Connect provider (oidc_server, oidc): sign-in and browser tests use it.
pytest_plugins = ["tests.oidc_provider.fixtures"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if django_settings.IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_and_eager(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # With the CELERY settings namespace the Django-side key is the one Celery reads.
    celery_app.conf.update(CELERY_TASK_ALWAYS_EAGER=True, CELERY_TASK_EAGER_PROPAGATES=True)
    cache.clear()  # throttle counters (bad API tokens per IP) must not leak between tests
    yield
    celery_app.conf.update(CELERY_TASK_ALWAYS_EAGER=False, CELERY_TASK_EAGER_PROPAGATES=False)


@pytest.fixture(autouse=True)
def _only_leads_writes_a_lead_stage():
    """DESIGN.md: nothing but leads writes a lead's stage. Every statement of every test is
    checked (tests/lead_stage_guard.py); a violation fails the test that triggered it."""
    with connection.execute_wrapper(lead_stage_guard):
        yield


@pytest.fixture
def org(db):
    """org → region → (team A, team B); manager of the region and of team B."""
    root = TeamFactory(name="Org")
    region = TeamFactory(name="Region", parent=root)
    team_a = TeamFactory(name="Team A", parent=region)
    team_b = TeamFactory(name="Team B", parent=region)
    return {"root": root, "region": region, "team_a": team_a, "team_b": team_b}


@pytest.fixture
def rep(org):
    return UserFactory(username="rep_alice", role="rep", team=org["team_a"])


@pytest.fixture
def other_rep(org):
    """A rep in another team (team B)."""
    return UserFactory(username="rep_bob", role="rep", team=org["team_b"])


@pytest.fixture
def manager(org):
    """Manages team A (and so sees rep's records, not other_rep's)."""
    user = UserFactory(username="manager_carol", role="manager", team=org["team_a"])
    org["team_a"].manager = user
    org["team_a"].save()
    return user


@pytest.fixture
def other_manager(org):
    user = UserFactory(username="manager_dave", role="manager", team=org["team_b"])
    org["team_b"].manager = user
    org["team_b"].save()
    return user


@pytest.fixture
def marketing(org):
    return UserFactory(username="marketing_erin", role="marketing", team=org["root"])


@pytest.fixture
def admin_user(org):
    return UserFactory(username="admin_frank", role="admin", team=org["root"])


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server on loopback that Django sends to (EMAIL_TIMEOUT 2 s)."""
    sink = SmtpSink().start()
    sink.configure(settings, timeout=2)
    yield sink
    sink.stop()
