"""The embedded default sends too: SQLite and Celery's filesystem broker under var/, a real
worker process, a real SMTP server on loopback. Everything runs in processes of its own (the
test database is not involved), so this runs on either database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.celery_worker import ROOT, kill, wait_for
from tests.smtp_sink import SmtpSink

QUEUE = """
from django.db import transaction
from crm import outbox
with transaction.atomic():
    rows = outbox.enqueue_many([
        outbox.Outgoing(kind="test", to=[f"user{n}@example.com"], subject=f"Hi {n}", text="x")
        for n in range(20)
    ])
print(json.dumps([row.message_id for row in rows]))
"""
STATUSES = """
from crm.models import OutboxMessage
print(json.dumps(sorted(set(OutboxMessage.objects.values_list("status", flat=True)))))
"""


def _env(var: Path, sink: SmtpSink) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return env | {
        "DEBUG": "true",
        "PLUMB_VAR_DIR": str(var),
        "EMAIL_URL": sink.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "WARNING",
    }


def _django(env: dict[str, str], code: str) -> object:
    script = "import json, django; django.setup()\n" + code
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env | {"DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_embedded_default_sends_through_a_real_worker(tmp_path):
    sink = SmtpSink().start()
    env = _env(tmp_path / "var", sink)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "1", "-l", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # when a change commits with 20 messages (the kick goes through the file broker)
        message_ids = _django(env, QUEUE)
        # then the worker sends them all
        assert sink.wait_for(20, timeout=120)
        assert wait_for(lambda: _django(env, STATUSES) == ["sent"], 60, every=1)
    finally:
        kill(worker)
        sink.stop()
    assert sorted(sink.message_ids()) == sorted(message_ids)
    assert (tmp_path / "var" / "crm.sqlite3").exists()
