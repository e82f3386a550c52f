"""The Celery app. Settings come from Django's (CELERY_* names); tasks live in each app's tasks.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("plumb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _started_by_celery() -> bool:
    """`celery -A config …` or `python -m celery -A config …` (not manage.py, not gunicorn)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return program.name == "celery" or program.parent.name == "celery"


if _started_by_celery():
    # A bad setting stops a worker or beat with the same one line as manage.py, not with a
    # traceback from deep inside Celery's boot.
    from config.env import load_settings_or_exit

    load_settings_or_exit("Plumb's worker")
