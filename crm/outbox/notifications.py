"""Notifications by e-mail, as each recipient chose (User.email_delivery): each one at once,
one daily digest at their hour (in their time zone), or none.

At once: the e-mail rows are written with the notifications, in the same transaction
(`email_notifications`). Digest: the hourly-ish sweep (`send_digests`) claims the users whose
digest time has come, gathers their notifications not e-mailed yet, checks each is still in
their scope, and writes one message per user. `Notification.emailed_at` marks a notification
as handed to the outbox (or folded into a digest), so none is e-mailed twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber

from crm import selectors
from crm.models import Notification, User
from crm.outbox.compose import Outgoing, clean_address, enqueue_many
from crm.outbox.render import recipient_zone, templated

logger = logging.getLogger(__name__)

DIGEST_ITEMS = 50  # per digest; the rest are counted and linked
DIGEST_LOOKBACK = timedelta(days=1)  # a first digest (or one after "none") covers a day
USER_FIELDS = ("pk", "email", "is_active", "email_delivery", "time_zone", "first_name", "username")


def mailable(user: User | None) -> bool:
    """An active user with an address a relay would take (a bad stored address is logged and
    skipped: it must never roll back the change that notified them)."""
    if user is None or not user.is_active or not user.email:
        return False
    try:
        clean_address(user.email, field_name="email")
    except ValidationError:
        logger.warning("user %s has an unusable e-mail address: not e-mailed", user.pk)
        return False
    return True


def wants_each(user: User | None) -> bool:
    """Whether `user` is e-mailed each notification at once."""
    return (
        user is not None and user.email_delivery == User.EmailDelivery.IMMEDIATE and mailable(user)
    )


def stamp_for_email(
    notifications: list[Notification], *, users: Mapping[int, User], now: datetime
) -> None:
    """Before the notifications are inserted: stamp `emailed_at` on those whose recipient
    wants each at once, so `email_notifications` after the INSERT needs no UPDATE."""
    for note in notifications:
        if wants_each(users.get(note.recipient_id)):
            note.emailed_at = now


def subject_line(message: str) -> str:
    """A notification's text as a subject: one line, at most 120 characters."""
    return " ".join(message.split())[:120]


def _link(url: str) -> str:
    return f"{settings.SITE_URL}{url}" if url else ""


def email_notifications(
    notifications: list[Notification],
    *,
    users: Mapping[int, User] | None = None,
    template: str = "email/notification",
    contexts: Mapping[int, Mapping[str, Any]] | None = None,
    now: datetime,
) -> int:
    """Queue one e-mail per notification whose recipient wants each at once, in the caller's
    transaction, and stamp those `emailed_at` (unless `stamp_for_email` did before the
    INSERT). Set-based: one query for the recipients (none when `users` holds them), one
    INSERT (plus the Message-IDs' UPDATE), at most one UPDATE. Returns how many were queued."""
    if not notifications:
        return 0
    wanted = {note.recipient_id for note in notifications}
    if users is None or not wanted <= users.keys():
        users = User.objects.only(*USER_FIELDS).in_bulk(wanted)
    messages: list[Outgoing] = []
    for note in notifications:
        user = users.get(note.recipient_id)
        if user is None or not wants_each(user):
            continue
        context = {"message": note.message, "link": _link(note.url), "created_at": note.created_at}
        context |= (contexts or {}).get(note.pk, {})
        messages.append(
            templated(
                kind=f"notification.{note.verb}"[:64],
                template=template,
                subject=subject_line(str(context.get("subject") or note.message)),
                context=context,
                to_user=user,
                notification_id=note.pk,
            )
        )
    enqueue_many(messages)
    unstamped = [note.pk for note in notifications if note.emailed_at is None]
    queued = {message.notification_id for message in messages}
    Notification.objects.filter(pk__in=[pk for pk in unstamped if pk in queued]).update(
        emailed_at=now
    )
    return len(messages)


# --- the daily digest ------------------------------------------------------------------------


def digest_slot(user: User, now: datetime) -> datetime | None:
    """Today's digest time of `user` (their hour, their time zone), once it has passed."""
    local = now.astimezone(recipient_zone(user))
    slot = local.replace(hour=user.digest_hour, minute=0, second=0, microsecond=0)
    return slot if local >= slot else None


def _digest_due(user: User, now: datetime) -> bool:
    """Due once a day: after today's slot, when no digest went out since it (a sweep missed
    while workers were down catches up later that day)."""
    slot = digest_slot(user, now)
    return slot is not None and (user.last_digest_at is None or user.last_digest_at < slot)


def _claim_digest_users(now: datetime) -> list[User]:
    """The users whose digest is due, locked (SKIP LOCKED) and stamped `last_digest_at`: a
    concurrent sweep sees them done. In the caller's transaction."""
    fields = (*USER_FIELDS, "digest_hour", "last_digest_at")
    candidates = User.objects.filter(
        email_delivery=User.EmailDelivery.DIGEST, is_active=True
    ).exclude(email="")
    due = [user.pk for user in candidates.only(*fields) if _digest_due(user, now)]
    if not due:
        return []
    locked = list(User.objects.select_for_update(skip_locked=True).filter(pk__in=due).only(*fields))
    claimed = [user for user in locked if _digest_due(user, now)]
    User.objects.filter(pk__in=[user.pk for user in claimed]).update(last_digest_at=now)
    return claimed


def _pending(
    users: list[User], now: datetime
) -> tuple[dict[int, list[Notification]], dict[int, int]]:
    """Per user: their newest notifications not e-mailed yet since their last digest (at most
    DIGEST_ITEMS), and how many there are in all. Two queries, however many users."""
    since = {user.pk: user.last_digest_at or now - DIGEST_LOOKBACK for user in users}
    window = Q()
    for user_id, start in since.items():
        window |= Q(recipient_id=user_id, created_at__gt=start)
    pending = Notification.objects.filter(window, emailed_at__isnull=True, created_at__lte=now)
    totals = dict(
        pending.order_by()
        .values_list("recipient_id")
        .annotate(n=Count("pk"))
        .values_list("recipient_id", "n")
    )
    ranked = pending.annotate(
        rank=Window(RowNumber(), partition_by=[F("recipient_id")], order_by=F("created_at").desc())
    )
    newest: dict[int, list[Notification]] = defaultdict(list)
    for note in ranked.filter(rank__lte=DIGEST_ITEMS).order_by("recipient_id", "-created_at"):
        newest[note.recipient_id].append(note)
    return newest, totals


@transaction.atomic
def send_digests(*, now: datetime) -> dict[str, int]:
    """Write the digests that are due: one message per user with notifications waiting, each
    item still in the user's scope (notifications_in_scope). Every waiting notification of a
    claimed user is stamped `emailed_at`, shown or not, so the next digest starts after it.
    Safe to run concurrently: users are claimed with SKIP LOCKED and stamped."""
    users = _claim_digest_users(now)
    if not users:
        return {"users": 0, "digests": 0, "items": 0}
    by_pk = {user.pk: user for user in users}
    newest, totals = _pending(users, now)
    shown = selectors.notifications_in_scope(
        [note for notes in newest.values() for note in notes], users=by_pk
    )
    visible = {note.pk for note in shown}
    messages = []
    items = 0
    for user in users:
        notes = [note for note in newest.get(user.pk, []) if note.pk in visible]
        if not notes or not mailable(user):
            continue
        items += len(notes)
        context = {
            "items": [
                {"message": n.message, "link": _link(n.url), "created_at": n.created_at}
                for n in notes
            ],
            "more": max(totals.get(user.pk, 0) - len(newest.get(user.pk, [])), 0),
            "since": user.last_digest_at or now - DIGEST_LOOKBACK,
        }
        subject = f"Your daily digest: {totals.get(user.pk, len(notes))} notification(s)"
        messages.append(
            templated(
                kind="notification.digest",
                template="email/digest",
                subject=subject,
                context=context,
                to_user=user,
            )
        )
    enqueue_many(messages)
    Notification.objects.filter(
        recipient_id__in=list(by_pk), emailed_at__isnull=True, created_at__lte=now
    ).update(emailed_at=now)
    return {"users": len(users), "digests": len(messages), "items": items}
