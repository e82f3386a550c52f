"""Lead reads shared by the list page, the CSV export, the API and the detail page.

Every function starts from `Lead.objects.visible_to(user)`; none writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import Account, Contact
from activities.models import Activity
from activities.selectors import activity_timeline
from crm.models import Team, User
from crm.selectors import owned_by
from leads.models import Lead, LeadReason, LeadTransition

# Sortable list columns: URL value → ORDER BY (a pk tie-breaker keeps pages stable).
SORTS: dict[str, tuple[str, ...]] = {
    "name": ("last_name", "first_name", "pk"),
    "-name": ("-last_name", "-first_name", "-pk"),
    "email": ("email",),
    "-email": ("-email",),
    "company": ("company", "pk"),
    "-company": ("-company", "-pk"),
    "score": ("score", "pk"),
    "-score": ("-score", "-pk"),
    "stage": ("stage", "pk"),
    "-stage": ("-stage", "-pk"),
    "created": ("created_at", "pk"),
    "-created": ("-created_at", "-pk"),
    "owner": ("owner__last_name", "owner__username", "pk"),
    "-owner": ("-owner__last_name", "-owner__username", "-pk"),
}
DEFAULT_SORT = "-created"


def lead_list(*, user: User) -> QuerySet[Lead]:
    """Leads `user` may see, with the owner joined (no per-row query for the owner column)."""
    return Lead.objects.visible_to(user).select_related("owner")


# Must stay the expression of the trigram index in migration 0003 (PostgreSQL uses the index
# only for the very same expression). Columns are qualified: the owner join also has names.
SEARCH_SQL = (
    'UPPER("leads_lead"."first_name" || \' \' || "leads_lead"."last_name" || \' \' || '
    '"leads_lead"."email" || \' \' || "leads_lead"."company")'
)


def search(qs: QuerySet[Lead], term: str) -> QuerySet[Lead]:
    """Every word must appear in the name, e-mail or company (case-insensitive substring).

    On PostgreSQL one trigram GIN index serves it (migration 0003); SQLite runs the same
    query unindexed.
    """
    words = term.split()[:5]
    if not words:
        return qs
    # constant SQL (no user input); the search words are filtered below as parameters
    qs = qs.alias(search_text=RawSQL(SEARCH_SQL, [], output_field=TextField()))  # nosec B611
    for word in words:
        qs = qs.filter(search_text__contains=word.upper())
    return qs


def _day_start(value: date) -> datetime:
    return timezone.make_aware(datetime.combine(value, time.min))


def filter_leads(*, user: User, filters: dict[str, Any]) -> QuerySet[Lead]:
    """The leads list and its CSV export: visible leads narrowed by the list's filters.

    `filters` holds cleaned form values: q, stage, owner ("me", "none" or a user id), team,
    source, score_min, score_max, created_from, created_to, sort.
    """
    qs = lead_list(user=user)
    if term := (filters.get("q") or "").strip():
        qs = search(qs, term)
    if stage := filters.get("stage"):
        qs = qs.filter(stage=stage)
    qs = owned_by(qs, owner=filters.get("owner"), user=user)
    if team := filters.get("team"):
        qs = qs.filter(owner__team__in=Team.objects.descendants_of(team).values("pk"))
    if source := filters.get("source"):
        qs = qs.filter(source=source)
    if filters.get("score_min") is not None:
        qs = qs.filter(score__gte=filters["score_min"])
    if filters.get("score_max") is not None:
        qs = qs.filter(score__lte=filters["score_max"])
    if created_from := filters.get("created_from"):
        qs = qs.filter(created_at__gte=_day_start(created_from))
    if created_to := filters.get("created_to"):
        qs = qs.filter(created_at__lt=_day_start(created_to) + timedelta(days=1))
    return qs.order_by(*SORTS.get(filters.get("sort") or DEFAULT_SORT, SORTS[DEFAULT_SORT]))


@dataclass
class TimelineEntry:
    at: datetime
    kind: str  # "transition" | "activity"
    title: str
    detail: str
    by: str


def lead_timeline(*, lead: Lead, limit: int = 100) -> list[TimelineEntry]:
    """Transitions and activities of one lead, newest first (two queries)."""
    entries = [
        TimelineEntry(
            at=t.at,
            kind="transition",
            title=f"{t.get_from_stage_display()} → {t.get_to_stage_display()}",
            detail=" — ".join(x for x in (t.reason, t.note) if x),
            by=str(t.by) if t.by else "system",
        )
        for t in LeadTransition.objects.filter(lead=lead).select_related("by")[:limit]
    ]
    for activity in activity_timeline(subject=lead, limit=limit):
        title = f"{activity.get_kind_display()}: {activity.subject}"
        detail = activity.body
        if activity.kind == Activity.Kind.TASK:
            state = "done" if activity.done_at else f"due {activity.due_at:%Y-%m-%d %H:%M}"
            title = f"{title} ({state})"
        if (email := activity.sent_email) is not None:  # sent from Plumb: to whom, delivered?
            state = email.outbox.get_status_display() if email.outbox else ""
            title = f"{title} ({state.lower() or email.get_direction_display().lower()})"
            detail = f"To {', '.join(email.to)} — {activity.body}"
        entries.append(
            TimelineEntry(
                at=activity.created_at,
                kind="activity",
                title=title,
                detail=detail,
                by=str(activity.owner),
            )
        )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def account_leads(*, user: User, account: Account, limit: int = 100) -> list[Lead]:
    """The account's leads the user can see, with their owner (one query, bounded)."""
    return list(
        Lead.objects.visible_to(user).filter(account=account).select_related("owner")[:limit]
    )


def contact_leads(*, user: User, contact: Contact, limit: int = 20) -> list[Lead]:
    """The leads the user can see that became (or were linked to) this contact, newest first
    (one query, bounded)."""
    return list(
        Lead.objects.visible_to(user).filter(contact=contact).order_by("-created_at", "-pk")[:limit]
    )


def lead_reasons(*, kind: str) -> QuerySet[LeadReason]:
    """The active reasons offered when disqualifying or recycling."""
    return LeadReason.objects.filter(kind=kind, is_active=True)
