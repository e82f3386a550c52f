"""Settings → E-mail: the messages that did not (fully) go out, and sending them again."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crm import audit
from crm.models import OutboxMessage, User
from crm.outbox.compose import kick_sender
from crm.permissions import is_admin

FAILED_STATUSES = (OutboxMessage.Status.FAILED, OutboxMessage.Status.GIVEN_UP)


def undelivered() -> Q:
    """Failed or given up, or sent with some recipients refused for good."""
    return Q(status__in=FAILED_STATUSES) | (Q(status=OutboxMessage.Status.SENT) & ~Q(refused={}))


def failed_messages(*, user: User, limit: int = 200) -> list[OutboxMessage]:
    """The newest undelivered messages with the relay's answers (admins; one query)."""
    if not is_admin(user):
        raise PermissionDenied("Only admins see the e-mail delivery failures.")
    return list(
        OutboxMessage.objects.visible_to(user)
        .filter(undelivered())
        .select_related("recipient")
        .order_by("-created_at", "-pk")[:limit]
    )


def outbox_counts(*, user: User) -> dict[str, int]:
    """How many messages are in each state (the page's header; one query)."""
    counts = dict.fromkeys(OutboxMessage.Status.values, 0)
    rows = OutboxMessage.objects.visible_to(user).order_by().values_list("status")
    counts.update(rows.annotate(n=Count("pk")).values_list("status", "n"))
    return counts


def resendable(user: User) -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.visible_to(user).filter(undelivered())


@transaction.atomic
def resend(*, message: OutboxMessage, by: User) -> bool:
    """Queue an undelivered message again, due now, with the same Message-ID (it is the same
    message). A partly refused one goes to the refused recipients only. The conditional
    UPDATE makes a second click a no-op; returns whether this one queued it."""
    if not is_admin(by):
        raise PermissionDenied("Only admins resend e-mail.")
    retry = list(message.refused) if message.status == OutboxMessage.Status.SENT else None
    changed = OutboxMessage.objects.filter(
        undelivered(), pk=message.pk, status=message.status
    ).update(
        status=OutboxMessage.Status.QUEUED,
        next_try_at=timezone.now(),
        failing_since=None,
        claim="",
        envelope=retry if retry is not None else message.envelope,
        refused={} if retry is not None else message.refused,
    )
    if not changed:
        return False
    audit.record(
        actor=by,
        action="email.resend",
        target=message,
        changes={"status": [message.status, OutboxMessage.Status.QUEUED]},
        label=message.subject[:200],
    )
    kick_sender()
    return True
