"""Activity reads shared by pages: a record's timeline and the dashboard's tasks due."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone

from activities import registry
from activities.models import Activity
from crm.models import User

TIMELINE_LIMIT = 100


def activity_timeline(*, subject: models.Model, limit: int = TIMELINE_LIMIT) -> list[Activity]:
    """A lead's or deal's activities, newest first, with their owner (one query, bounded).

    The caller has checked that the user may see `subject`: every activity on a visible
    record is visible (Activity.visible_to)."""
    registered = registry.subject_for(type(subject))
    if registered is None:
        raise ValueError(f"{subject._meta.label} is not an activity subject")
    return list(
        Activity.objects.filter(**{registered.field: subject})
        .select_related("owner")
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
