"""The workers' beat entries point at registered tasks and expire before their next run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings

from config.celery import app

WORKERS_ENTRIES = {
    "assign-unassigned-leads": timedelta(minutes=1),
    "send-due-reminders": timedelta(minutes=1),
    "check-first-contact-sla": timedelta(minutes=1),
    "recycle-zombie-leads": timedelta(days=1),
    "sweep-stale-opportunities": timedelta(hours=1),
}


@pytest.mark.parametrize(("name", "interval"), WORKERS_ENTRIES.items())
def test_workers_beat_entry_is_registered_and_expires_within_its_interval(name, interval):
    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE[name]
    assert entry["task"] in app.tasks
    schedule = entry["schedule"]
    if isinstance(schedule, float | int):
        assert timedelta(seconds=schedule) == interval
    else:
        assert isinstance(schedule, crontab)
    assert 0 < entry["options"]["expires"] <= interval.total_seconds()
