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
from crm.models import JobRun, Notification
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
    rep.save()
    task = make_task(rep, due_in_minutes=30)
    assert send_due_reminders(now=timezone.now()) == {"delivered": 0, "emailed": 0}
    with time_machine.travel(NOON + timedelta(minutes=15), tick=False):
        counts = send_due_reminders(now=timezone.now())
    assert counts == {"delivered": 1, "emailed": 1}
    note = Notification.objects.get(recipient=rep)
    assert (note.verb, note.url) == ("task_due", f"/leads/{task.lead_id}/")
    assert "Call back" in note.message
    assert [m.to for m in mail.outbox] == [[rep.email]]
    assert mail.outbox[0].extra_headers["Message-ID"].startswith("<reminder-")
    delivery = ReminderDelivery.objects.get()
    assert (delivery.activity, delivery.attempts) == (task, 1)
    assert delivery.emailed_at is not None
    assert Notification.objects.get().emailed_at is not None


@time_machine.travel(NOON, tick=False)
def test_a_second_sweep_sends_nothing_again(rep):
    make_task(rep, due_in_minutes=5)
    send_due_reminders(now=timezone.now())
    assert send_due_reminders(now=timezone.now()) == {"delivered": 0, "emailed": 0}
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1


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
def test_failed_email_is_counted_and_retried(rep, settings, monkeypatch):
    make_task(rep, due_in_minutes=5)

    def broken(self, *args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", broken)
    assert send_due_reminders(now=timezone.now()) == {"delivered": 1, "emailed": 0}
    delivery = ReminderDelivery.objects.get()
    assert (delivery.attempts, delivery.emailed_at) == (1, None)
    assert "smtp down" in delivery.last_error
    monkeypatch.undo()
    assert send_due_reminders(now=timezone.now()) == {"delivered": 0, "emailed": 1}
    assert Notification.objects.count() == 1


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
    assert (run.status, run.counts) == ("ok", {"delivered": 40, "emailed": 40})
    assert ReminderDelivery.objects.count() == 44
