"""A real Celery worker on PostgreSQL + Redis delivers a 1,000-lead import's lead.created
events to a real receiver: every event id arrives (at least once), even when the worker's pool
processes and then the whole worker are SIGKILLed mid-delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from config.celery import app
from leads.importing.service import import_leads
from leads.models import Lead
from tests.celery_worker import pool_pids, start_worker, wait_for
from tests.factories import UserFactory
from tests.webhooks.receiver import Receiver
from webhooks import events, services
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.tasks import deliver_webhooks_task

ROOT = Path(__file__).resolve().parents[2]
LEADS = 1000

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)"),
]


def _start_worker(queue: str) -> subprocess.Popen[bytes]:
    return start_worker(queue, concurrency=2, WEBHOOK_ALLOW_PRIVATE_TARGETS="true")


@pytest.mark.django_db(transaction=True)
def test_a_1000_lead_import_is_delivered_once_by_event_id_across_worker_kills(
    monkeypatch, settings
):
    queue = f"webhooks-test-{uuid.uuid4().hex[:8]}"
    receiver = Receiver().start()
    receiver.delay = 0.004  # a receiver that takes a moment: kills land mid-batch
    admin = UserFactory(username="hook_admin", role="admin")
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    # After the import commits, its kick goes to this test's queue (as beat's would).
    monkeypatch.setattr(
        events, "kick_delivery", lambda: deliver_webhooks_task.apply_async(queue=queue)
    )
    worker = _start_worker(queue)
    replacement = None

    def seen() -> int:
        return len(set(receiver.event_ids()))

    try:
        settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # the receiver is on loopback
        services.create_subscription(by=admin, url=receiver.url, events=["lead.created"])
        records = [{"email": f"lead{i}@import{i}.example"} for i in range(LEADS)]
        import_leads(records=records, match_on="email", by=admin)
        # when the pool processes are SIGKILLed mid-delivery …
        assert wait_for(lambda: seen() >= 150, timeout=120)
        for pid in pool_pids(worker):
            os.kill(pid, signal.SIGKILL)
        killed_pool_at = seen()
        # … and later the whole worker dies
        assert wait_for(lambda: seen() >= killed_pool_at + 150, timeout=120)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        assert seen() < LEADS
        # then the killed worker's leases run out (two minutes later) …
        WebhookDelivery.objects.filter(state="pending").update(next_attempt_at=timezone.now())
        # … and a new worker, on beat's next ticks, delivers the rest
        replacement = _start_worker(queue)
        for _ in range(2):
            deliver_webhooks_task.apply_async(queue=queue)
        done = wait_for(
            lambda: not WebhookDelivery.objects.filter(state="pending").exists(), timeout=180
        )
        assert done, WebhookDelivery.objects.filter(state="pending").count()
    finally:
        for process in (worker, replacement):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        receiver.stop()
        with app.connection_for_write() as broker:
            broker.default_channel.queue_delete(queue)
    # every event of the import arrived, none unknown, none twice in the database
    ids = {str(pk) for pk in WebhookEvent.objects.values_list("pk", flat=True)}
    assert len(ids) == LEADS
    assert set(receiver.event_ids()) == ids
    assert WebhookDelivery.objects.count() == LEADS
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}
    received = {r.json["data"]["object"]["email"] for r in receiver.received}
    assert received == set(Lead.objects.values_list("email", flat=True))
