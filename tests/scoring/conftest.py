"""Scoring test fixtures."""

from __future__ import annotations

import pytest

from crm.celery import app as celery_app


@pytest.fixture(autouse=True)
def _celery_really_eager():
    """tests/conftest.py sets `task_always_eager`, but Celery reads the namespaced
    CELERY_TASK_ALWAYS_EAGER from Django settings first (False), so tasks were queued to the
    broker instead of running. Set the namespaced keys too (reported to the lead)."""
    celery_app.conf["CELERY_TASK_ALWAYS_EAGER"] = True
    celery_app.conf["CELERY_TASK_EAGER_PROPAGATES"] = True
    yield
    celery_app.conf["CELERY_TASK_ALWAYS_EAGER"] = False
