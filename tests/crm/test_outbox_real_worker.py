"""The outbox on PostgreSQL + Redis with real Celery workers and a real SMTP server on
loopback: a relay that is down and comes back, 451 and 550 answers, a worker SIGKILLed while
sending 500 messages, and a relay slower than EMAIL_TIMEOUT.

The tests publish what beat would (the outbox sweep) on their own queue, and the kick after
each commit goes there too. Retry times are brought forward where a test waits for a retry
(`_retry_now`): the backoff's timing is proven without a worker in test_outbox.py."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django.utils import timezone

from config.celery import app
from crm import outbox
from crm.models import OutboxMessage
from crm.outbox.sender import RECORD_EVERY, claim_due
from crm.tasks import send_outbox_task, sweep_outbox_task
from tests.celery_worker import delete_queue, kill, pool_pids, start_worker, wait_for
from tests.factories import OutboxMessageFactory
from tests.smtp_sink import SmtpSink, free_port

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (set REDIS_URL)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def queue(monkeypatch) -> Iterator[str]:
    """A queue of this test's own; kicks after commit and the sweeps are published to it."""
    name = f"outbox-test-{uuid.uuid4().hex[:8]}"
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=False)
    monkeypatch.setattr(
        "crm.outbox.compose.kick_sender",
        lambda: transaction.on_commit(lambda: send_outbox_task.apply_async(queue=name)),
    )
    yield name
    delete_queue(app, name)


@pytest.fixture
def beat(queue) -> Iterator[None]:
    """Beat's outbox sweep, every second instead of every minute."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            sweep_outbox_task.apply_async(queue=queue, expires=5)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def _worker(queue: str, sink: SmtpSink, **env: str):
    settings = {"EMAIL_URL": sink.url, "EMAIL_TIMEOUT": "2", "OUTBOX_LEASE_SECONDS": "10"}
    return start_worker(queue, concurrency=2, **(settings | env))


def _queue_messages(count: int, *, to: str = "user{n}@example.com") -> list[OutboxMessage]:
    with transaction.atomic():
        return outbox.enqueue_many(
            [
                outbox.Outgoing(
                    kind="test",
                    to=[to.format(n=n)],
                    subject=f"Message {n}",
                    text=f"Body {n}",
                )
                for n in range(count)
            ]
        )


def _retry_now() -> int:
    """The retry time of every deferred row has come (rows leased to a sender stay theirs)."""
    return OutboxMessage.objects.filter(status="queued", claim="").update(
        next_try_at=timezone.now()
    )


def _statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in OutboxMessage.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_relay_down_for_a_while_then_up_every_message_arrives(queue, beat):
    sink = SmtpSink(port=free_port())  # not started yet: the relay is down
    worker = _worker(queue, sink)
    try:
        rows = _queue_messages(100)
        # the workers try, fail and back off
        assert wait_for(lambda: OutboxMessage.objects.filter(attempts__gte=1).count() == 100, 60)
        assert _statuses() == {"queued": 100}
        assert sink.received == []
        # the relay comes back; the retries' time comes
        sink.start()
        _retry_now()
        assert sink.wait_for(100, timeout=90)
        assert wait_for(lambda: _statuses() == {"sent": 100}, 30)
    finally:
        kill(worker)
        sink.stop()
    assert set(sink.message_ids()) == {row.message_id for row in rows}
    assert max(OutboxMessage.objects.values_list("attempts", flat=True)) >= 2


def test_451_is_retried_and_delivered_and_550_fails_only_that_recipients_message(queue, beat):
    sink = SmtpSink().start()
    sink.handler.data_replies.append("451 4.3.0 Greylisted, try again later")
    sink.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    worker = _worker(queue, sink)
    try:
        rows = _queue_messages(20)
        gone = _queue_messages(1, to="gone@example.com")[0]
        # one message greylisted, one refused for good, the rest delivered at once
        assert wait_for(lambda: len(sink.received) == 19, 60)
        assert wait_for(lambda: OutboxMessage.objects.get(pk=gone.pk).status == "failed", 30)
        deferred = OutboxMessage.objects.get(status="queued")
        assert deferred.response == "451 4.3.0 Greylisted, try again later"
        _retry_now()
        assert sink.wait_for(20, timeout=60)
        assert wait_for(lambda: _statuses() == {"sent": 20, "failed": 1}, 30)
    finally:
        kill(worker)
        sink.stop()
    assert set(sink.message_ids()) == {row.message_id for row in rows}
    failed = OutboxMessage.objects.get(pk=gone.pk)
    assert failed.refused == {"gone@example.com": "550 5.1.1 No such user"}
    assert failed.attempts == 1  # a permanent failure is not retried


def test_a_worker_killed_while_sending_500_messages_loses_none(queue, beat):
    sink = SmtpSink().start()
    sink.handler.delay = 0.01  # slow enough to be killed mid-batch
    worker = _worker(queue, sink, OUTBOX_LEASE_SECONDS="10")
    replacement = None
    try:
        rows = _queue_messages(500)
        # the pool processes die mid-batch, then the whole worker does
        assert sink.wait_for(60, timeout=120)
        for pid in pool_pids(worker):
            os.kill(pid, signal.SIGKILL)
        assert sink.wait_for(len(sink.received) + 60, timeout=120)
        kill(worker)
        assert len(set(sink.message_ids())) < 500
        # a new worker takes over once the dead senders' leases run out
        replacement = _worker(queue, sink, OUTBOX_LEASE_SECONDS="10")
        assert wait_for(lambda: len(set(sink.message_ids())) == 500, 180, every=0.5)
        assert wait_for(lambda: _statuses() == {"sent": 500}, 60)
    finally:
        kill(worker)
        kill(replacement)
        sink.stop()
    ids = {row.message_id: row for row in rows}
    received = sink.message_ids()
    assert set(received) == set(ids)  # every message arrived
    # a duplicate is only ever a second copy of the same message, with its Message-ID, and
    # each killed sender (two pool processes, then the worker's two) resends at most the
    # answers it had not recorded yet
    assert sum(received.values()) - 500 <= 4 * RECORD_EVERY
    for item in sink.received:
        original = ids[item.message_id]
        assert (item.message["Subject"], item.rcpt_tos) == (original.subject, original.to)


def test_a_relay_slower_than_email_timeout_never_holds_row_locks(queue):
    sink = SmtpSink().start()
    sink.handler.delay = 6  # > EMAIL_TIMEOUT (2 s)
    worker = _worker(queue, sink)
    try:
        stuck = _queue_messages(1)[0]
        # the worker is waiting for the relay, in the middle of DATA
        assert wait_for(sink.handler.in_data.is_set, 60)
        # every row can be locked at once by someone else: the sender holds none
        with transaction.atomic():
            locked = list(
                OutboxMessage.objects.select_for_update(nowait=True).values_list("pk", flat=True)
            )
        assert locked == [stuck.pk]
        # and no worker connection sits in an open transaction meanwhile
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] == 0
        # another sender claims what else is due right away (rows written without a kick,
        # so the worker's free process does not take them first)
        others = OutboxMessageFactory.create_batch(3)
        _, claimed = claim_due(now=timezone.now(), limit=10)
        assert sorted(row.pk for row in claimed) == sorted(row.pk for row in others)
        # the slow one is recorded as a transient failure, to be retried
        assert wait_for(lambda: OutboxMessage.objects.get(pk=stuck.pk).attempts == 1, 30)
    finally:
        kill(worker)
        sink.stop()
    timed_out = OutboxMessage.objects.get(pk=stuck.pk)
    assert timed_out.status == "queued"
    assert "timed out" in timed_out.response
