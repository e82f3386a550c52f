"""Core state changes: notifications (and their e-mails), API tokens, the team tree, job runs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.functions import Concat, Length, Replace, Substr
from django.utils import timezone

from crm import audit, outbox, selectors
from crm.models import ApiToken, JobRun, Notification, Team, User

logger = logging.getLogger(__name__)


def notify(
    *,
    recipients: Iterable[User | None],
    verb: str,
    message: str,
    url: str = "",
    target: models.Model | None = None,
    actor: User | None = None,
    email: bool = True,
) -> list[Notification]:
    """Create one in-app notification per distinct recipient (never the actor) in one INSERT,
    and, in the same transaction, the e-mails of those who want each notification at once
    (crm.outbox): if the cause rolls back, neither exists. A recipient who may not see
    `target` gets nothing (see `notify_many`)."""
    seen: set[int] = set()
    rows = []
    target_type = ContentType.objects.get_for_model(target) if target is not None else None
    users: dict[int, User] = {}
    for user in recipients:
        if user is None or user.pk in seen or (actor is not None and user.pk == actor.pk):
            continue
        seen.add(user.pk)
        users[user.pk] = user
        rows.append(
            Notification(
                recipient=user,
                actor=actor,
                verb=verb,
                message=message[:300],
                url=url,
                target_type=target_type,
                target_id=target.pk if target is not None else None,
            )
        )
    kept = _in_scope(rows, users)
    now = timezone.now()
    if email:
        outbox.stamp_for_email(kept, users=users, now=now)
    created = Notification.objects.bulk_create(kept)
    if email and created:
        outbox.email_notifications(created, users=users, now=now)
    return created


def notify_many(notifications: list[Notification]) -> list[Notification]:
    """Bulk variant for sweeps: the caller builds the rows; one INSERT, and the e-mails of
    those who want each at once written with them (one INSERT).

    A notification names its target (message, link, e-mail), so a row whose recipient may not
    see its target is dropped: escalating to a team's manager must not leak a deal to a rep
    or a marketer who was made that team's manager (only managers have team scope)."""
    if not notifications:
        return []
    users = User.objects.in_bulk({n.recipient_id for n in notifications})
    kept = _in_scope(notifications, users)
    now = timezone.now()
    outbox.stamp_for_email(kept, users=users, now=now)
    created = Notification.objects.bulk_create(kept)
    if created:
        outbox.email_notifications(created, users=users, now=now)
    return created


def _in_scope(notifications: list[Notification], users: dict[int, User]) -> list[Notification]:
    """The rows to write: those whose recipient may see their target (selectors)."""
    kept = selectors.notifications_in_scope(notifications, users=users)
    if len(kept) < len(notifications):
        logger.info(
            "dropped %d notification(s) naming records outside the recipient's scope",
            len(notifications) - len(kept),
        )
    return kept


@transaction.atomic
def email_waiting_notifications(*, notification_ids: list[int], now: datetime) -> int:
    """E-mail the given notifications not e-mailed yet, as their recipients chose: the work
    of the task the code before the outbox queued (its messages may still be in the broker
    during an upgrade). Claimed with SKIP LOCKED; their scope is checked again."""
    waiting = list(
        Notification.objects.select_for_update(skip_locked=True).filter(
            pk__in=notification_ids, emailed_at__isnull=True
        )
    )
    kept = selectors.notifications_in_scope(waiting)
    return outbox.email_notifications(kept, now=now)


def mark_notifications_read(*, user: User, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


@transaction.atomic
def create_api_token(
    *, user: User, name: str, scopes: list[str], by: User | None = None
) -> tuple[ApiToken, str]:
    """Create a token; returns (row, token text). The text is shown once and never stored."""
    unknown = sorted(set(scopes) - set(ApiToken.Scope.values))
    if unknown:
        raise ValidationError(
            {
                "scopes": f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(ApiToken.Scope.values)}."
            }
        )
    if not scopes:
        raise ValidationError({"scopes": "Give the token at least one scope."})
    if not name.strip():
        raise ValidationError({"name": "Name the token (e.g. the system that will use it)."})
    text, prefix, digest = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=prefix,
        digest=digest,
        scopes=sorted(set(scopes)),
        created_by=by,
    )
    audit.record(
        actor=by,
        action="token.create",
        target=token,
        changes={"user": [None, user.pk], "scopes": [None, token.scopes]},
    )
    return token, text


@transaction.atomic
def revoke_api_token(*, token: ApiToken, by: User | None = None) -> None:
    """Revoke once: the conditional UPDATE makes a second revoke a no-op (and unaudited)."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit.record(actor=by, action="token.revoke", target=token, changes={})


@transaction.atomic
def move_team(*, team: Team, new_parent: Team | None, by: User | None = None) -> Team:
    """Re-parent a team; its whole subtree's paths are rewritten in one UPDATE."""
    if new_parent is not None and new_parent.path.startswith(team.path):
        raise ValidationError({"parent": "A team cannot move under itself or its own sub-team."})
    old_path, old_parent_id = team.path, team.parent_id
    team.parent = new_parent
    team.save()
    new_path = Concat(models.Value(team.path), Substr(F("path"), len(old_path) + 1))
    Team.objects.filter(path__startswith=old_path).exclude(pk=team.pk).update(path=new_path)
    # depth = number of dots − 1, recomputed for the moved subtree in the same set-based way.
    Team.objects.filter(path__startswith=team.path).update(
        depth=Length("path") - Length(Replace("path", models.Value("."), models.Value(""))) - 1
    )
    if old_parent_id != team.parent_id:
        audit.record(
            actor=by,
            action="team.move",
            target=team,
            changes={"parent": [old_parent_id, team.parent_id]},
        )
    return team


@contextmanager
def job_run(job: str) -> Iterator[dict[str, int]]:
    """Record a sweep as a JobRun row. Yields a counts dict the sweep fills in.

    The row is written outside the sweep's transaction so a failed sweep still leaves a log.
    """
    run = JobRun.objects.create(job=job, started_at=timezone.now())
    counts: dict[str, int] = {}
    try:
        yield counts
    except Exception as error:
        JobRun.objects.filter(pk=run.pk).update(
            status=JobRun.Status.FAILED,
            finished_at=timezone.now(),
            counts=counts,
            error=f"{type(error).__name__}: {error}"[:2000],
        )
        logger.exception("job %s failed", job)
        raise
    JobRun.objects.filter(pk=run.pk).update(
        status=JobRun.Status.OK, finished_at=timezone.now(), counts=counts
    )


def purge_old_job_runs(*, now: datetime, keep_days: int = 30) -> int:
    """Keep a month of job history."""
    deleted, _ = JobRun.objects.filter(Q(started_at__lt=now - timedelta(days=keep_days))).delete()
    return deleted
