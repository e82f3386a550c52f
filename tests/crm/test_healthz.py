from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import JobRun

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_database_and_broker_answer(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "workers": "unknown: no minute sweep has run yet",
        "version": settings.PLUMB_VERSION,
    }


def test_healthz_names_a_dead_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error")


def test_healthz_says_workers_are_alive_when_a_minute_sweep_ran_recently(client):
    JobRun.objects.create(job="assign_unassigned_leads", started_at=timezone.now())
    assert client.get("/healthz").json()["workers"] == "ok"


def test_stale_workers_are_reported_but_do_not_fail_the_web_check(client):
    # given the last minute sweep started 7 minutes ago (worker or beat stopped); a daily job
    # that ran just now proves nothing about the minute schedule
    now = timezone.now()
    JobRun.objects.create(job="send_due_reminders", started_at=now - timedelta(minutes=7))
    JobRun.objects.create(job="purge_old_job_runs", started_at=now)
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json()["workers"] == "stale: the last minute sweep started 7 min ago"
