"""A real Celery worker on PostgreSQL + Redis delivers 1,000 reminders exactly once, even when
its pool processes and then the whole worker are SIGKILLed mid-run."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from activities.models import Activity, ReminderDelivery
from activities.tasks import send_due_reminders_task
from config.celery import app
from crm.models import Notification
from tests.celery_worker import delete_queue, kill, pool_pids, start_worker, wait_for
from tests.factories import LeadFactory, UserFactory

REMINDERS = 1000

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)"),
]


def _delivered() -> int:
    return ReminderDelivery.objects.count()


def _enqueue(queue: str, count: int, **kwargs: int) -> None:
    for _ in range(count):
        send_due_reminders_task.apply_async(kwargs=kwargs, queue=queue)


@pytest.mark.django_db(transaction=True)
def test_real_worker_killed_twice_still_delivers_every_reminder_exactly_once():
    # given 1,000 reminders that are due
    owner = UserFactory(username="busy_rep", email="busy@example.com")
    lead = LeadFactory(owner=owner)
    past = timezone.now() - timedelta(minutes=1)
    Activity.objects.bulk_create(
        Activity(
            kind="task",
            subject=f"Task {i}",
            owner=owner,
            lead=lead,
            due_at=past + timedelta(minutes=15),
            remind_at=past,
        )
        for i in range(REMINDERS)
    )
    queue = f"reminders-test-{uuid.uuid4().hex[:8]}"
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    worker = start_worker(queue)
    replacement = None
    try:
        # when small sweeper ticks run on a real worker (2 reminders each) …
        _enqueue(queue, REMINDERS // 2, limit=2, max_batches=1)
        # … its pool processes are SIGKILLed mid-run …
        assert wait_for(lambda: _delivered() >= 100, timeout=120)
        killed_pool_at = _delivered()
        for pid in pool_pids(worker):
            os.kill(pid, signal.SIGKILL)
        # … and later the whole worker (main process and pool) dies
        assert wait_for(lambda: _delivered() >= killed_pool_at + 150, timeout=120)
        killed_worker_at = _delivered()
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        assert killed_pool_at < REMINDERS
        assert killed_worker_at < REMINDERS
        # then a new worker picks up the queue; beat's next ticks mop up anything whose
        # message died with the old worker (the reminders live in the database, not the broker)
        replacement = start_worker(queue)
        _enqueue(queue, 3, limit=200)
        finished = wait_for(
            lambda: (
                _delivered() >= REMINDERS
                and not ReminderDelivery.objects.filter(emailed_at__isnull=True).exists()
            ),
            timeout=180,
        )
        if not finished:  # pragma: no cover -- diagnostic
            _enqueue(queue, 3, limit=200)
            wait_for(lambda: _delivered() >= REMINDERS, timeout=60)
    finally:
        for process in (worker, replacement):
            kill(process)
        delete_queue(app, queue)
    # exactly once: one delivery and one in-app notification per reminder, all e-mailed
    assert ReminderDelivery.objects.count() == REMINDERS
    assert (
        ReminderDelivery.objects.values("activity").annotate(n=Count("pk")).filter(n__gt=1).exists()
        is False
    )
    assert Notification.objects.filter(recipient=owner, verb="task_due").count() == REMINDERS
    assert Activity.objects.filter(reminded_at__isnull=True).count() == 0
    assert ReminderDelivery.objects.filter(emailed_at__isnull=True).count() == 0
