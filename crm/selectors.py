"""Core reads shared by pages and API: the bell, the dashboard, job runs, and the scope check
of notifications."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.db.models import IntegerField, Value
from django.utils import timezone

from crm.models import Activity, JobRun, Notification, Team, User

if TYPE_CHECKING:
    from leads.models import Lead
    from pipeline.models import Opportunity


def unread_notification_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


OUT_OF_SCOPE_MESSAGE = "A record this notification was about is no longer visible to you."


def notification_list(*, user: User, limit: int = 50) -> list[Notification]:
    """The user's newest notifications. One whose record has since left the user's scope (a
    lead or deal reassigned to someone else's team) keeps its place and read state but no
    longer names the record: its message is replaced and its link dropped. One query, plus
    one per kind of record the page's notifications point at."""
    items = list(Notification.objects.filter(recipient=user).select_related("actor")[:limit])
    visible = {n.pk for n in notifications_in_scope(items, users={user.pk: user})}
    for notification in items:
        if notification.pk not in visible:
            notification.message, notification.url = OUT_OF_SCOPE_MESSAGE, ""
    return items


SCOPE_CHECK_CHUNK = 100  # recipients per UNION (SQLite allows 500 compound terms)


def notifications_in_scope(
    notifications: list[Notification], *, users: dict[int, User] | None = None
) -> list[Notification]:
    """The notifications whose recipient may see their target, by the target model's own
    `visible_to`; rows without a target (counts, hand-over summaries) pass. Used when rows
    are written (notify, notify_many), listed and e-mailed.

    Set-based: one query for the recipients (none when `users` holds them all), then per
    target model one UNION of "which of these ids does this user see" (one part per
    recipient), however many rows.
    """
    targeted = [
        (n.target_type_id, n.recipient_id, n.target_id)
        for n in notifications
        if n.target_type_id and n.target_id is not None
    ]
    if not targeted:
        return notifications
    wanted: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for type_id, recipient_id, target_id in targeted:
        wanted[type_id][recipient_id].add(target_id)
    recipient_ids = {recipient_id for _, recipient_id, _ in targeted}
    if users is None or not recipient_ids <= users.keys():
        users = User.objects.in_bulk(recipient_ids)
    allowed: set[tuple[int, int, int]] = set()
    for type_id, by_user in wanted.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        manager = model._default_manager if model is not None else None
        if manager is None or not hasattr(manager, "visible_to"):
            # A model without a visibility rule is configuration everyone may read.
            allowed |= {(type_id, u, pk) for u, pks in by_user.items() for pk in pks}
            continue
        items = list(by_user.items())
        for start in range(0, len(items), SCOPE_CHECK_CHUNK):
            parts = [
                manager.visible_to(users[user_id])
                .filter(pk__in=pks)
                .order_by()
                .annotate(recipient=Value(user_id, output_field=IntegerField()))
                .values_list("recipient", "pk")
                for user_id, pks in items[start : start + SCOPE_CHECK_CHUNK]
            ]
            seen = parts[0].union(*parts[1:], all=True)
            allowed |= {(type_id, user_id, pk) for user_id, pk in seen}
    return [
        n
        for n in notifications
        if not (n.target_type_id and n.target_id is not None)
        or (n.target_type_id, n.recipient_id, n.target_id) in allowed
    ]


@dataclass(frozen=True)
class Dashboard:
    tasks_due: list[Activity]
    new_leads: list[Lead]
    stale_deals: list[Opportunity]


def dashboard(*, user: User, now: datetime | None = None, limit: int = 20) -> Dashboard:
    """My tasks due today or overdue, my newest open leads, my stale deals: three queries."""
    from leads.models import Lead
    from pipeline.models import Opportunity

    now = now or timezone.now()
    end_of_day = timezone.localtime(now).replace(hour=23, minute=59, second=59)
    tasks = list(
        Activity.objects.open_tasks()
        .filter(owner=user, due_at__lte=end_of_day)
        .select_related("lead", "opportunity")
        .order_by("due_at")[:limit]
    )
    leads = list(
        Lead.objects.filter(
            owner=user, stage__in=[Lead.Lifecycle.MQL, Lead.Lifecycle.SRL]
        ).order_by("-assigned_at", "-created_at")[:limit]
    )
    stale = list(
        Opportunity.objects.filter(owner=user, is_stale=True)
        .open()
        .select_related("stage", "account")
        .order_by("stale_since")[:limit]
    )
    return Dashboard(tasks_due=tasks, new_leads=leads, stale_deals=stale)


def latest_job_runs(*, per_job: int = 5) -> list[JobRun]:
    """The last runs of every job (one query; the window keeps it bounded)."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    ranked = JobRun.objects.annotate(
        rank=Window(RowNumber(), partition_by=[F("job")], order_by=F("started_at").desc())
    )
    return list(ranked.filter(rank__lte=per_job).order_by("job", "-started_at"))


@dataclass(frozen=True)
class OpenWork:
    lead_count: int
    deal_count: int
    leads: list[object]
    deals: list[object]


def open_work(*, user: User, limit: int = 25) -> OpenWork:
    """A user's open leads and open deals (for reassignment): two counts, two short lists."""
    from leads.models import Lead
    from pipeline.models import Opportunity

    leads = Lead.objects.filter(owner=user).open().order_by("pk")
    deals = Opportunity.objects.filter(owner=user).open().select_related("stage").order_by("pk")
    return OpenWork(
        lead_count=leads.count(),
        deal_count=deals.count(),
        leads=list(leads[:limit]),
        deals=list(deals[:limit]),
    )


def escalation_managers() -> dict[int, int]:
    """{team id: who hears escalations about its members' records}: the team's manager when
    that is an active manager or admin (someone who can open the record), else the nearest
    such manager up the team tree. A team "manager" who is a rep or a marketer has no team
    scope, so escalating to them would be dropped unseen. Teams with nobody able above them
    are left out. One query for the whole tree."""
    teams = list(
        Team.objects.values(
            "pk",
            "path",
            "manager_id",
            "manager__role",
            "manager__is_active",
            "manager__is_superuser",
        )
    )
    able = {
        team["pk"]: team["manager_id"]
        for team in teams
        if team["manager_id"]
        and team["manager__is_active"]
        and (
            team["manager__role"] in (User.Role.MANAGER, User.Role.ADMIN)
            or team["manager__is_superuser"]
        )
    }
    managers = {}
    for team in teams:
        chain = [int(part) for part in team["path"].split(".") if part]  # root … this team
        manager = next((able[pk] for pk in reversed(chain) if pk in able), None)
        if manager is not None:
            managers[team["pk"]] = manager
    return managers
