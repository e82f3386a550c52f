"""Core reads shared by pages and API: the bell, the dashboard, job runs, a user's open work,
and the scope check of notifications. What the features add (dashboard cards, kinds of open
work) comes from crm.registry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import F, IntegerField, QuerySet, Value, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from crm import registry
from crm.models import JobRun, Notification, Team, User


def owned_by(qs: QuerySet[Any], *, owner: object, user: User) -> QuerySet[Any]:
    """A list's owner filter: "me", "none" (nobody's) or a user id; empty means anyone."""
    if owner == "me":
        return qs.filter(owner=user)
    if owner == "none":
        return qs.filter(owner__isnull=True)
    if owner:
        return qs.filter(owner_id=owner)
    return qs


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
class DashboardCard:
    """One filled card of the dashboard: the panel's template and its items."""

    key: str
    template: str
    items: Sequence[Any]


@dataclass(frozen=True)
class Dashboard:
    cards: list[DashboardCard]


def dashboard(*, user: User, now: datetime | None = None, limit: int = 20) -> Dashboard:
    """The cards the features registered (my tasks due, my new leads, my stale deals …), each
    filled by its own selector: one query per card."""
    now = now or timezone.now()
    return Dashboard(
        cards=[
            DashboardCard(
                key=panel.key,
                template=panel.template,
                items=panel.items(user=user, now=now, limit=limit),
            )
            for panel in registry.dashboard_panels()
        ]
    )


def latest_job_runs(*, per_job: int = 5) -> list[JobRun]:
    """The last runs of every job (one query; the window keeps it bounded)."""
    ranked = JobRun.objects.annotate(
        rank=Window(RowNumber(), partition_by=[F("job")], order_by=F("started_at").desc())
    )
    return list(ranked.filter(rank__lte=per_job).order_by("job", "-started_at"))


@dataclass(frozen=True)
class OpenWorkRow:
    pk: int
    label: str
    state: str  # the kind's `describe`: stage of a lead, stage of a deal


@dataclass(frozen=True)
class OpenWorkGroup:
    """A user's open records of one kind: how many, and the first few."""

    kind: registry.OpenWorkKind
    count: int
    rows: list[OpenWorkRow]

    @property
    def title(self) -> str:
        return f"{self.kind.noun.capitalize()}s"


@dataclass(frozen=True)
class OpenWork:
    groups: list[OpenWorkGroup]

    @property
    def total(self) -> int:
        return sum(group.count for group in self.groups)

    @property
    def nouns(self) -> str:
        """ "leads or deals": what the user could own."""
        return " or ".join(f"{kind.noun}s" for kind in (g.kind for g in self.groups))


def open_work(*, user: User, limit: int = 25) -> OpenWork:
    """A user's open records of every registered kind (open leads, open deals) for
    reassignment: per kind one count and one short list."""
    groups = []
    for kind in registry.open_work_kinds():
        records = kind.open_records(user).order_by("pk")
        shown = records.select_related(*kind.related)[:limit] if kind.related else records[:limit]
        groups.append(
            OpenWorkGroup(
                kind=kind,
                count=records.count(),
                rows=[OpenWorkRow(pk=r.pk, label=str(r), state=kind.describe(r)) for r in shown],
            )
        )
    return OpenWork(groups=groups)


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
