"""Task reminders from the database: due → in-app + e-mail, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError
from django.utils import timezone

from activities.models import Activity, ReminderDelivery
from activities.reminders import deliver_due_reminders, send_due_reminders
from activities.services import create_activity
from activities.tasks import send_due_reminders_task
from crm.models import JobRun, Notification, OutboxMessage
from crm.outbox import send_due
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_task(owner, *, due_in_minutes: int):
    return create_activity(
        by=owner,
        kind="task",
        subject="Call back",
        lead=LeadFactory(owner=owner),
        due_at=timezone.now() + timedelta(minutes=due_in_minutes),
    )


@time_machine.travel(NOON, tick=False)
def test_reminder_goes_out_remind_before_minutes_ahead_in_app_and_by_email(rep):
    rep.remind_before_minutes = 15
    rep.time_zone = "Europe/Berlin"
    rep.save()
    task = make_task(rep, due_in_minutes=30)
    assert send_due_reminders(now=timezone.now()) == {"delivered": 0, "settled": 0}
    with time_machine.travel(NOON + timedelta(minutes=15), tick=False):
        counts = send_due_reminders(now=timezone.now())
        sent = send_due(now=timezone.now())
    assert counts == {"delivered": 1, "settled": 0}
    assert sent.sent == 1
    note = Notification.objects.get(recipient=rep)
    assert (note.verb, note.url) == ("task_due", f"/leads/{task.lead_id}/")
    # the owner's time: 12:30 UTC is 13:30 in Berlin, named
    assert note.message == "Reminder: Call back (due 2026-03-02 13:30 Europe/Berlin)"
    (message,) = mail.outbox
    assert message.to == [rep.email]
    assert message.subject == "[Plumb] Reminder: Call back"
    assert "Due 2026-03-02 13:30 (Europe/Berlin)" in message.body
    row = OutboxMessage.objects.get()
    assert (row.kind, row.recipient, row.notification) == ("notification.task_due", rep, note)
    assert message.extra_headers["Message-ID"] == row.message_id
    assert row.message_id.startswith(f"<plumb.{row.pk}.")
    delivery = ReminderDelivery.objects.get()
    assert delivery.activity == task
    assert delivery.emailed_at is not None
    assert note.emailed_at is not None


@time_machine.travel(NOON, tick=False)
def test_a_second_sweep_sends_nothing_again(rep):
    make_task(rep, due_in_minutes=5)
    send_due_reminders(now=timezone.now())
    assert send_due_reminders(now=timezone.now()) == {"delivered": 0, "settled": 0}
    send_due(now=timezone.now())
    assert Notification.objects.count() == 1
    assert OutboxMessage.objects.count() == 1
    assert len(mail.outbox) == 1


@time_machine.travel(NOON, tick=False)
def test_owners_on_the_digest_or_without_email_get_no_reminder_email_at_once(rep, other_rep):
    rep.email_delivery = "digest"
    rep.save()
    other_rep.email_delivery = "none"
    other_rep.save()
    make_task(rep, due_in_minutes=5)
    make_task(other_rep, due_in_minutes=5)
    assert send_due_reminders(now=timezone.now()) == {"delivered": 2, "settled": 0}
    assert OutboxMessage.objects.exists() is False
    # the digest picks rep's up later; nobody's is marked e-mailed yet
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 2


@time_machine.travel(NOON, tick=False)
def test_done_tasks_get_no_reminder(rep):
    task = make_task(rep, due_in_minutes=5)
    Activity.objects.filter(pk=task.pk).update(done_at=timezone.now())
    assert send_due_reminders(now=timezone.now())["delivered"] == 0
    assert Notification.objects.exists() is False


@time_machine.travel(NOON, tick=False)
def test_clearing_reminded_at_cannot_cause_a_second_delivery(rep):
    task = make_task(rep, due_in_minutes=5)
    deliver_due_reminders(now=timezone.now())
    Activity.objects.filter(pk=task.pk).update(reminded_at=None)
    assert deliver_due_reminders(now=timezone.now()) == (1, 0)
    assert ReminderDelivery.objects.count() == 1
    with pytest.raises(IntegrityError):
        ReminderDelivery.objects.create(
            activity=task, recipient=rep, due_at=task.remind_at, sent_at=timezone.now()
        )


@time_machine.travel(NOON, tick=False)
def test_a_relay_failure_leaves_the_reminder_email_queued_and_it_goes_out_later(rep, monkeypatch):
    make_task(rep, due_in_minutes=5)

    def broken(self, messages):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", broken)
    assert send_due_reminders(now=timezone.now()) == {"delivered": 1, "settled": 0}
    assert send_due(now=timezone.now()).retried == 1
    row = OutboxMessage.objects.get()
    assert (row.status, row.attempts) == ("queued", 1)
    assert "smtp down" in row.response
    monkeypatch.undo()
    with time_machine.travel(NOON + timedelta(minutes=2), tick=False):
        assert send_due(now=timezone.now()).sent == 1
    assert len(mail.outbox) == 1
    assert Notification.objects.count() == 1
    assert ReminderDelivery.objects.count() == 1


@time_machine.travel(NOON, tick=False)
def test_a_delivery_left_unmailed_from_before_the_outbox_is_emailed_once(rep):
    task = make_task(rep, due_in_minutes=5)
    note = Notification.objects.create(recipient=rep, verb="task_due", message="Reminder: x")
    ReminderDelivery.objects.create(
        activity=task, recipient=rep, due_at=task.remind_at, sent_at=NOON, notification=note
    )
    Activity.objects.filter(pk=task.pk).update(reminded_at=NOON)
    assert send_due_reminders(now=timezone.now()) == {"delivered": 0, "settled": 1}
    assert send_due_reminders(now=timezone.now()) == {"delivered": 0, "settled": 0}
    assert OutboxMessage.objects.get().notification == note
    assert ReminderDelivery.objects.get().emailed_at == NOON


@time_machine.travel(NOON, tick=False)
def test_sweep_task_writes_a_job_run_and_runs_in_constant_queries(
    rep, other_rep, django_assert_max_num_queries
):
    for size in (2, 20):
        for _ in range(size):
            make_task(rep, due_in_minutes=1)
            make_task(other_rep, due_in_minutes=1)
        with django_assert_max_num_queries(20):
            send_due_reminders_task()
    run = JobRun.objects.filter(job="send_due_reminders").order_by("-pk").first()
    assert (run.status, run.counts) == ("ok", {"delivered": 40, "settled": 0})
    assert OutboxMessage.objects.count() == 44
    assert ReminderDelivery.objects.count() == 44
