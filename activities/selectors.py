"""Activity reads shared by pages: a record's timeline, the dashboard's tasks due, e-mail
templates and the delivery status of sent e-mail."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from activities import registry
from activities.models import Activity, EmailTemplate
from crm.models import OutboxMessage, User

TIMELINE_LIMIT = 100


def activity_timeline(*, subject: models.Model, limit: int = TIMELINE_LIMIT) -> list[Activity]:
    """A lead's or deal's activities, newest first, with their owner and, for e-mail, the
    message and its delivery (one query, bounded).

    The caller has checked that the user may see `subject`: every activity on a visible
    record is visible (Activity.visible_to)."""
    registered = registry.subject_for(type(subject))
    if registered is None:
        raise ValueError(f"{subject._meta.label} is not an activity subject")
    return list(
        Activity.objects.filter(**{registered.field: subject})
        .select_related("owner", "email__outbox")
        .order_by("-created_at", "-pk")[:limit]
    )


def tasks_due(*, user: User, now: datetime, limit: int) -> list[Activity]:
    """The user's open tasks due today (in the server's time zone) or overdue, soonest first,
    with the record each is about (one query)."""
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    return list(
        Activity.objects.open_tasks()
        .filter(owner=user, due_at__lte=end_of_day)
        .select_related(*(subject.field for subject in registry.subjects()))
        .order_by("due_at")[:limit]
    )


def email_templates_for(*, user: User) -> QuerySet[EmailTemplate]:
    """The templates `user` may write from: the shared ones and their own, by name."""
    return EmailTemplate.objects.visible_to(user).order_by("name", "pk")


def email_template_list(*, user: User) -> list[EmailTemplate]:
    """Settings → E-mail templates: the shared ones and the user's own, each with whether the
    user may edit it (`can_edit`; one query)."""
    editable = set(EmailTemplate.objects.editable_by(user).values_list("pk", flat=True))
    rows = list(email_templates_for(user=user).select_related("owner", "created_by"))
    for row in rows:
        row.can_edit = row.pk in editable  # type: ignore[attr-defined]
    return rows


def sent_emails(*, user: User) -> QuerySet[OutboxMessage]:
    """The outbox rows of e-mails sent from records `user` may see, with their e-mail and
    activity (the API's delivery status)."""
    return (
        OutboxMessage.objects.visible_to(user)
        .filter(email_activity__isnull=False)
        .select_related("email_activity__activity")
    )
