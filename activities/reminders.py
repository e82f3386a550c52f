"""Follow-up reminders: task reminders delivered from the database, exactly once in-app.

No Celery ETA/countdown: a reminder is a row state (`Activity.remind_at` due, `reminded_at`
empty). The per-minute sweeper claims due rows with `FOR UPDATE SKIP LOCKED` and, in the same
transaction, writes the in-app notification, a ReminderDelivery row (unique per activity and
reminder time), the `reminded_at` stamp and, for owners who want notifications e-mailed at
once, the e-mail (a crm.outbox row: the outbox retries it and keeps its Message-ID). A worker
killed mid-batch rolls the whole batch back; the next sweep picks it up again. A wiped broker
loses nothing: beat's next tick finds the rows. Owners on the daily digest get the reminder
there; times are in the owner's time zone.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from activities.models import Activity, ReminderDelivery
from crm import outbox
from crm.models import Notification, User

BATCH_SIZE = 200


def due_reminders(*, now: datetime) -> QuerySet[Activity]:
    """Open tasks whose reminder time has come and that were not reminded yet."""
    return Activity.objects.filter(
        kind=Activity.Kind.TASK,
        done_at__isnull=True,
        reminded_at__isnull=True,
        remind_at__isnull=False,
        remind_at__lte=now,
    )


def _due_text(task: Activity, owner: User) -> str:
    """The due time in the owner's time zone, named: "2026-03-02 13:00 Europe/Berlin"."""
    if task.due_at is None:
        return "no due time"
    zone = outbox.recipient_zone(owner)
    return f"{timezone.localtime(task.due_at, zone):%Y-%m-%d %H:%M} {zone.key}"


def _email_reminders(pairs: list[tuple[Activity, Notification]], *, now: datetime) -> int:
    """Queue the reminder e-mails of these (task, notification) pairs as their owners chose,
    in the caller's transaction (crm.outbox: one INSERT)."""
    contexts = {
        note.pk: {
            "subject": f"Reminder: {task.subject}",
            "task_subject": task.subject,
            "due_at": task.due_at,
            "link": f"{settings.SITE_URL}{task.subject_url}",
        }
        for task, note in pairs
    }
    owners = {task.owner_id: task.owner for task, _ in pairs}
    return outbox.email_notifications(
        [note for _, note in pairs],
        users=owners,
        template="email/reminder",
        contexts=contexts,
        now=now,
    )


@transaction.atomic
def deliver_due_reminders(*, now: datetime, limit: int = BATCH_SIZE) -> tuple[int, int]:
    """Deliver up to `limit` due reminders in-app (and queue their e-mails); returns
    (claimed, delivered).

    Concurrency: rows are claimed FOR UPDATE SKIP LOCKED, so parallel sweepers split the work;
    the notification, the delivery row, the e-mail and the `reminded_at` stamp commit
    together, and the unique (activity, due_at) constraint makes a second delivery of one
    reminder impossible.
    """
    tasks = list(
        due_reminders(now=now)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("owner")
        .order_by("remind_at", "pk")[:limit]
    )
    if not tasks:
        return 0, 0
    # A reminder already delivered (e.g. `reminded_at` cleared by hand) is not sent again.
    done = set(
        ReminderDelivery.objects.filter(activity__in=tasks).values_list("activity_id", "due_at")
    )
    # (task, its reminder time): due_reminders() only returns tasks that have one.
    fresh = [
        (task, task.remind_at)
        for task in tasks
        if task.remind_at is not None and (task.pk, task.remind_at) not in done
    ]
    notifications = Notification.objects.bulk_create(
        Notification(
            recipient_id=task.owner_id,
            verb="task_due",
            message=f"Reminder: {task.subject} (due {_due_text(task, task.owner)})"[:300],
            url=task.subject_url,
            # Stamped now for owners e-mailed at once: their e-mail is queued below.
            emailed_at=now if outbox.wants_each(task.owner) else None,
        )
        for task, _ in fresh
    )
    ReminderDelivery.objects.bulk_create(
        ReminderDelivery(
            activity_id=task.pk,
            recipient_id=task.owner_id,
            due_at=remind_at,
            sent_at=now,
            notification_id=notification.pk,
            emailed_at=now,  # its e-mail (if the owner wants one) is queued just below
        )
        for (task, remind_at), notification in zip(fresh, notifications, strict=True)
    )
    _email_reminders(
        [(task, note) for (task, _), note in zip(fresh, notifications, strict=True)], now=now
    )
    Activity.objects.filter(pk__in=[task.pk for task in tasks]).update(reminded_at=now)
    return len(tasks), len(fresh)


@transaction.atomic
def queue_waiting_reminder_emails(*, now: datetime, limit: int = BATCH_SIZE) -> int:
    """Deliveries from before the outbox whose e-mail never went out (`emailed_at` empty):
    queue it now, once (SKIP LOCKED claim, stamped in the same transaction). Returns how many
    deliveries were settled."""
    deliveries = list(
        ReminderDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(emailed_at__isnull=True, notification__isnull=False)
        .select_related("activity__owner", "notification")
        .order_by("pk")[:limit]
    )
    pairs = [
        (delivery.activity, delivery.notification)
        for delivery in deliveries
        if delivery.notification is not None and delivery.notification.emailed_at is None
    ]
    _email_reminders(pairs, now=now)
    ReminderDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(emailed_at=now)
    return len(deliveries)


def send_due_reminders(
    *, now: datetime, limit: int = BATCH_SIZE, max_batches: int | None = None
) -> dict[str, int]:
    """The per-minute sweep: deliver due reminders in batches (all, or `max_batches`), their
    e-mails queued with them; then settle deliveries left from before the outbox."""
    delivered = batches = 0
    while True:
        claimed, batch = deliver_due_reminders(now=now, limit=limit)
        delivered += batch
        batches += 1
        if claimed < limit or (max_batches is not None and batches >= max_batches):
            break
    return {"delivered": delivered, "settled": queue_waiting_reminder_emails(now=now, limit=limit)}
