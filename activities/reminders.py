"""Follow-up reminders: task reminders delivered from the database, exactly once in-app.

No Celery ETA/countdown: a reminder is a row state (`Activity.remind_at` due, `reminded_at`
empty). The per-minute sweeper claims due rows with `FOR UPDATE SKIP LOCKED` and, in the same
transaction, writes the in-app notification, a ReminderDelivery row (unique per activity and
reminder time) and the `reminded_at` stamp. A worker killed mid-batch rolls the whole batch
back; the next sweep picks it up again. A wiped broker loses nothing: beat's next tick finds
the rows.

E-mail is a second phase: deliveries with `emailed_at` empty are claimed (SKIP LOCKED), sent,
and stamped in the same transaction. A crash between the SMTP hand-off and the commit can
repeat an e-mail (at-least-once); the Message-ID is stable per delivery so mail systems can
drop the duplicate. The in-app reminder never repeats.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, QuerySet

from activities.models import Activity, ReminderDelivery
from crm.models import Notification

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
MAX_EMAIL_ATTEMPTS = 5


def due_reminders(*, now: datetime) -> QuerySet[Activity]:
    """Open tasks whose reminder time has come and that were not reminded yet."""
    return Activity.objects.filter(
        kind=Activity.Kind.TASK,
        done_at__isnull=True,
        reminded_at__isnull=True,
        remind_at__isnull=False,
        remind_at__lte=now,
    )


@transaction.atomic
def deliver_due_reminders(*, now: datetime, limit: int = BATCH_SIZE) -> tuple[int, int]:
    """Deliver up to `limit` due reminders in-app; returns (claimed, delivered).

    Concurrency: rows are claimed FOR UPDATE SKIP LOCKED, so parallel sweepers split the work;
    the notification, the delivery row and the `reminded_at` stamp commit together, and the
    unique (activity, due_at) constraint makes a second delivery of one reminder impossible.
    """
    tasks = list(
        due_reminders(now=now)
        .select_for_update(skip_locked=True, of=("self",))
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
            message=f"Reminder: {task.subject} (due {task.due_at:%Y-%m-%d %H:%M} UTC)"[:300],
            url=task.subject_url,
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
        )
        for (task, remind_at), notification in zip(fresh, notifications, strict=True)
    )
    Activity.objects.filter(pk__in=[task.pk for task in tasks]).update(reminded_at=now)
    return len(tasks), len(fresh)


@transaction.atomic
def email_pending_reminders(
    *, now: datetime, after: int = 0, limit: int = BATCH_SIZE
) -> tuple[int, int]:
    """E-mail delivered reminders not e-mailed yet, from pk `after` on; returns (last pk seen,
    sent). SKIP LOCKED claim; the stamp commits with the send. A failure is counted and
    retried by the next sweep, up to 5 attempts."""
    deliveries = list(
        ReminderDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(emailed_at__isnull=True, attempts__lt=MAX_EMAIL_ATTEMPTS, pk__gt=after)
        .select_related("recipient", "activity")
        .order_by("pk")[:limit]
    )
    if not deliveries:
        return after, 0
    sent, failed = [], []
    for delivery in deliveries:
        user = delivery.recipient
        if not (user.email and user.email_notifications and user.is_active):
            sent.append(delivery.pk)  # nothing to send: done
            continue
        task = delivery.activity
        message = EmailMessage(
            subject=f"[Plumb] Reminder: {task.subject}"[:150],
            body=f"Due {task.due_at:%Y-%m-%d %H:%M} UTC.\n\n{settings.SITE_URL}{task.subject_url}",
            to=[user.email],
            headers={"Message-ID": f"<reminder-{delivery.pk}@plumb>"},
        )
        try:
            message.send()
        except Exception as error:  # any transport failure: count it, retry next sweep
            logger.warning("reminder %s e-mail failed: %s", delivery.pk, error)
            failed.append((delivery.pk, f"{type(error).__name__}: {error}"[:300]))
            continue
        sent.append(delivery.pk)
    if sent:
        ReminderDelivery.objects.filter(pk__in=sent).update(
            emailed_at=now, attempts=F("attempts") + 1
        )
        Notification.objects.filter(
            pk__in=ReminderDelivery.objects.filter(pk__in=sent).values("notification_id")
        ).update(emailed_at=now)
    for pk, reason in failed:  # failures are rare; one UPDATE each keeps its message
        ReminderDelivery.objects.filter(pk=pk).update(attempts=F("attempts") + 1, last_error=reason)
    return deliveries[-1].pk, len(sent)


def send_due_reminders(
    *, now: datetime, limit: int = BATCH_SIZE, max_batches: int | None = None
) -> dict[str, int]:
    """The per-minute sweep: deliver due reminders in batches (all, or `max_batches`), then
    e-mail the delivered ones."""
    delivered = emailed = batches = 0
    while True:
        claimed, batch = deliver_due_reminders(now=now, limit=limit)
        delivered += batch
        batches += 1
        if claimed < limit or (max_batches is not None and batches >= max_batches):
            break
    after = 0
    for _ in range(batches if max_batches is not None else 10**9):
        last, batch = email_pending_reminders(now=now, after=after, limit=limit)
        emailed += batch
        if last == after:
            break
        after = last
    return {"delivered": delivered, "emailed": emailed}
