"""Activity state changes: log an activity or schedule a task, complete a task, and let open
tasks follow their subject when it changes hands."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from activities import registry
from activities.models import Activity
from crm.models import User
from crm.registry import HandOver
from webhooks.events import record_events


@transaction.atomic
def create_activity(
    *,
    by: User,
    kind: str,
    subject: str,
    body: str = "",
    lead: models.Model | None = None,
    opportunity: models.Model | None = None,
    owner: User | None = None,
    due_at: datetime | None = None,
    done: bool | None = None,
) -> Activity:
    """Log an activity or schedule a task on a lead or deal.

    The subject's feature decides what logging does to it (its registered `on_logged`): a
    call, e-mail or meeting on a lead stamps `first_contacted_at` (the speed-to-lead clock);
    any activity refreshes the deal's / lead's `last_activity_at` (the rotting clock). Those
    updates commit with the activity.
    """
    if lead is None and opportunity is None:
        raise ValidationError({"lead": "An activity belongs to a lead or an opportunity."})
    if kind not in Activity.Kind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}."})
    if kind == Activity.Kind.TASK and due_at is None:
        raise ValidationError({"due_at": "A task needs a due date and time."})
    now = timezone.now()
    owner = owner or by
    is_done = (kind != Activity.Kind.TASK) if done is None else done
    # The subjects are typed as plain models: this app does not import the features.
    subjects: dict[str, models.Model | None] = {"lead": lead, "opportunity": opportunity}
    activity = Activity(
        **subjects,
        kind=kind,
        subject=subject,
        body=body,
        owner=owner,
        created_by=by,
        due_at=due_at,
        done_at=now if is_done else None,
        remind_at=(
            due_at - timedelta(minutes=owner.remind_before_minutes)
            if due_at and not is_done
            else None
        ),
    )
    activity.full_clean()
    activity.save()
    for registered in registry.subjects():
        if registered.on_logged is not None and getattr(activity, f"{registered.field}_id"):
            registered.on_logged(activity, now)
    record_events(event="activity.created", model=Activity, ids=[activity.pk], now=now)
    return activity


@transaction.atomic
def complete_task(*, activity: Activity, by: User) -> Activity:
    """Mark a task done once: the conditional UPDATE makes a second click a no-op."""
    Activity.objects.filter(pk=activity.pk, done_at__isnull=True).update(done_at=timezone.now())
    activity.refresh_from_db()
    return activity


def hand_over_open_tasks(handover: HandOver) -> None:
    """The departing user's open tasks on handed-over records go to the new owner (reminders
    then reach someone who can open the record); done tasks and other people's tasks stay.
    One UPDATE, in the hand-over's transaction."""
    subject = registry.subject_for(handover.model)
    if subject is None:
        return
    Activity.objects.open_tasks().filter(
        owner=handover.from_user, **{f"{subject.field}_id__in": handover.ids}
    ).update(owner_id=handover.to_user_id)
