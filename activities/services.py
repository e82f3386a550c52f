"""Activity state changes: log an activity or schedule a task (on a lead, deal or contact),
complete or edit a task, delete one's own activity, and let open tasks follow their subject
when it changes hands. Pages and the API (activities.api) both come here."""

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

LOGGABLE_KINDS = frozenset(
    {Activity.Kind.CALL, Activity.Kind.MEETING, Activity.Kind.NOTE, Activity.Kind.TASK}
)


class NotYours(Exception):
    """Only the activity's owner (or whoever logged it) may change or delete it."""


def _check_owner_sees(*, owner: User, subjects: dict[str, models.Model]) -> None:
    """A task given to someone else must be about records they can see: the reminder (and the
    link in it) goes to them. One query per subject."""
    for registered in registry.subjects():
        record = subjects.get(registered.field)
        if record is None:
            continue
        scoped = registered.model._default_manager.visible_to(owner)  # type: ignore[attr-defined]
        if not scoped.filter(pk=record.pk).exists():
            raise ValidationError({"owner": f"{owner} cannot see this {registered.field}."})


def _remind_at(*, due_at: datetime | None, owner: User, done: bool) -> datetime | None:
    """When an open task's reminder goes out: its owner's `remind_before_minutes` ahead."""
    if due_at is None or done:
        return None
    try:
        return due_at - timedelta(minutes=owner.remind_before_minutes)
    except OverflowError:  # a due time at the very start of the calendar
        raise ValidationError({"due_at": "This date and time is out of range."}) from None


@transaction.atomic
def create_activity(
    *,
    by: User,
    kind: str,
    subject: str,
    body: str = "",
    lead: models.Model | None = None,
    opportunity: models.Model | None = None,
    contact: models.Model | None = None,
    owner: User | None = None,
    due_at: datetime | None = None,
    done: bool | None = None,
) -> Activity:
    """Log an activity or schedule a task on a lead, deal or contact (one or several).

    The subject's feature decides what logging does to it (its registered `on_logged`): a
    call, e-mail or meeting on a lead stamps `first_contacted_at` (the speed-to-lead clock);
    any activity refreshes the deal's / lead's `last_activity_at` (the rotting clock). Those
    updates commit with the activity. A task's reminder time is set here, from its owner's
    `remind_before_minutes`; the reminder sweeper (activities.reminders) delivers it. An
    activity given to someone else must be about records they can see.
    """
    # The subjects are typed as plain models: this app does not import the features.
    subjects: dict[str, models.Model | None] = {
        "lead": lead,
        "opportunity": opportunity,
        "contact": contact,
    }
    given = {field: record for field, record in subjects.items() if record is not None}
    if not given:
        raise ValidationError({"lead": "An activity belongs to a lead, a deal or a contact."})
    if kind not in Activity.Kind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}."})
    if kind == Activity.Kind.TASK and due_at is None:
        raise ValidationError({"due_at": "A task needs a due date and time."})
    now = timezone.now()
    owner = owner or by
    if owner.pk != by.pk:
        _check_owner_sees(owner=owner, subjects=given)
    is_done = (kind != Activity.Kind.TASK) if done is None else done
    activity = Activity(
        **subjects,
        kind=kind,
        subject=subject,
        body=body,
        owner=owner,
        created_by=by,
        due_at=due_at,
        done_at=now if is_done else None,
        remind_at=_remind_at(due_at=due_at, owner=owner, done=is_done),
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


def _is_own(activity: Activity, user: User) -> bool:
    return user.pk in (activity.owner_id, activity.created_by_id)


@transaction.atomic
def update_activity(
    *,
    activity: Activity,
    by: User,
    done: bool | None = None,
    subject: str | None = None,
    body: str | None = None,
    due_at: datetime | None = None,
) -> Activity:
    """Complete a task (`done=True`: anyone who can see it, as on the record's page) or edit
    one's own activity: subject, notes, a task's due time. A new due time re-arms the
    reminder (a fresh `remind_at`, `reminded_at` cleared), so the sweeper sends it again for
    the new time. The row is locked: concurrent edits serialise."""
    locked = Activity.objects.select_for_update().select_related("owner").get(pk=activity.pk)
    edits = {
        name: value
        for name, value in (("subject", subject), ("body", body), ("due_at", due_at))
        if value is not None
    }
    if done is False:
        raise ValidationError({"done": "A done task cannot be reopened: schedule a new one."})
    if edits and not _is_own(locked, by):
        raise NotYours("Only the owner of an activity edits it.")
    if "due_at" in edits and locked.kind != Activity.Kind.TASK:
        raise ValidationError({"due_at": "Only tasks have a due time."})
    for name, value in edits.items():
        setattr(locked, name, value)
    if "due_at" in edits and locked.done_at is None:
        locked.remind_at = _remind_at(due_at=locked.due_at, owner=locked.owner, done=False)
        locked.reminded_at = None
    if done and locked.kind == Activity.Kind.TASK and locked.done_at is None:
        locked.done_at = timezone.now()
    locked.full_clean()
    locked.save()
    return locked


@transaction.atomic
def delete_activity(*, activity: Activity, by: User) -> None:
    """Delete one's own activity (owner or whoever logged it); its reminders go with it."""
    if not _is_own(activity, by):
        raise NotYours("Only the owner of an activity deletes it.")
    Activity.objects.filter(pk=activity.pk).delete()


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
