"""The kanban board's reads: filters, column headers and column cards.

The board is built from a fixed number of queries whatever the number of deals: one for the
pipelines and their stages, one for the filter's people, one aggregate for the column headers
and one statement for every column's first cards (a LATERAL join on PostgreSQL running
`ORDER BY position LIMIT n` per stage on the (stage, position, id) index).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, cast

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length, Substr
from django.utils import timezone

from activities.models import Activity
from crm.models import Team, User, users_visible_to
from pipeline.models import Opportunity, Pipeline, Stage

CARDS_PER_PAGE = 50


@dataclass(frozen=True)
class BoardFilters:
    """The board's filters as they appear in the URL (all optional)."""

    owner: str = ""  # "", "me", "team" or a user id
    team: int | None = None
    deal_type: str = ""
    close_from: date | None = None
    close_to: date | None = None
    stale: bool = False
    q: str = ""


def filtered_opportunities(
    *, user: User, filters: BoardFilters, now: datetime | None = None
) -> QuerySet[Opportunity]:
    """The user's visible deals narrowed by the board filters (no ordering, no joins added)."""
    qs = Opportunity.objects.visible_to(user)
    if filters.owner == "me":
        qs = qs.filter(owner=user)
    elif filters.owner == "team":
        if user.role == User.Role.MANAGER:
            qs = qs.filter(owner__team__in=Team.objects.subtree_of(user).values("pk"))
        else:
            qs = qs.filter(owner__team_id=user.team_id) if user.team_id else qs.filter(owner=user)
    elif filters.owner.isdigit():
        qs = qs.filter(owner_id=int(filters.owner))
    if filters.team:
        # The team and its sub-teams: the owner's team path starts with the chosen team's path.
        chosen = Team.objects.filter(
            pk=filters.team, path=Substr(OuterRef("owner__team__path"), 1, Length("path"))
        )
        qs = qs.filter(Exists(chosen))
    if filters.deal_type:
        qs = qs.filter(deal_type=filters.deal_type)
    if filters.close_from:
        qs = qs.filter(expected_close_date__gte=filters.close_from)
    if filters.close_to:
        qs = qs.filter(expected_close_date__lte=filters.close_to)
    if filters.stale:
        qs = qs.filter(is_stale=True)
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(account__name__icontains=filters.q))
    return qs


@dataclass
class Card:
    """What a board card shows; built from one row, no further queries."""

    pk: int
    name: str
    amount: Decimal
    expected_close_date: date | None
    next_step: str
    next_step_date: date | None
    stage: Stage
    position: float
    version: int
    is_stale: bool
    is_rotting: bool
    has_overdue_task: bool
    account_id: int | None
    account_name: str
    owner_id: int
    owner_name: str
    owner_initials: str


@dataclass
class StageHeader:
    """A column header: count and sums of the deals the filters let through."""

    stage: Stage
    count: int = 0
    amount: Decimal = Decimal("0")

    @property
    def weighted(self) -> Decimal:
        return (self.amount * self.stage.probability / 100).quantize(Decimal("1"))

    @property
    def over_wip_limit(self) -> bool:
        return bool(self.stage.wip_limit) and self.count > (self.stage.wip_limit or 0)


@dataclass
class Column:
    header: StageHeader
    cards: list[Card]
    more_after: str = ""  # the keyset cursor ("position:id") when there are more cards

    @property
    def stage(self) -> Stage:
        return self.header.stage


@dataclass
class Board:
    pipeline: Pipeline
    pipelines: list[Pipeline]
    columns: list[Column]
    won_stages: list[Stage]
    lost_stages: list[Stage]
    owners: list[User]
    teams: list[Team]
    stages: list[Stage] = field(default_factory=list)
    people: list[User] = field(default_factory=list)


_CARD_VALUES = {
    "account_name": F("account__name"),
    "owner_first": F("owner__first_name"),
    "owner_last": F("owner__last_name"),
    "owner_username": F("owner__username"),
}
_CARD_FIELDS = (
    "id",
    "name",
    "amount",
    "expected_close_date",
    "next_step",
    "next_step_date",
    "stage_id",
    "position",
    "version",
    "is_stale",
    "stage_entered_at",
    "last_activity_at",
    "account_id",
    "owner_id",
)


class _CardRow(Protocol):
    """What a card is built from: one row of `_card_queryset`'s columns, as a raw Opportunity
    (the SQLite path; RawQuerySet sets the annotated columns as attributes) or a `_RowProxy`
    over a values() dict. Both read the same way; neither costs a query."""

    pk: int
    name: str
    amount: Decimal
    expected_close_date: date | None
    next_step: str
    next_step_date: date | None
    stage_id: int
    position: float
    version: int
    is_stale: bool
    stage_entered_at: datetime
    last_activity_at: datetime | None
    account_id: int | None
    owner_id: int
    account_name: str | None
    owner_first: str | None
    owner_last: str | None
    owner_username: str
    has_overdue: bool


class _RowProxy:
    """Attribute access over a values() dict, so `_card` serves both raw rows and dicts."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)
        self.pk = row["id"]


def _row(values: dict[str, Any]) -> _CardRow:
    # The dict holds every `_CardRow` column (see `_card_queryset`), so the proxy has them all.
    return cast(_CardRow, _RowProxy(values))


def _card_queryset(
    base: QuerySet[Opportunity], now: datetime
) -> QuerySet[Opportunity, dict[str, Any]]:
    overdue = Activity.objects.open_tasks().filter(opportunity_id=OuterRef("pk"), due_at__lt=now)
    return base.annotate(**_CARD_VALUES, has_overdue=Exists(overdue)).values(
        *_CARD_FIELDS, *_CARD_VALUES, "has_overdue"
    )


def _is_rotting(
    stage: Stage, entered: datetime, last_activity: datetime | None, now: datetime
) -> bool:
    """Rotting: the stage's rot_after_days passed since the later of stage entry and last activity."""
    if not stage.rot_after_days:
        return False
    since = max(entered, last_activity) if last_activity else entered
    return now - since > timedelta(days=stage.rot_after_days)


def _card(row: _CardRow, stage: Stage, now: datetime) -> Card:
    first, last = row.owner_first or "", row.owner_last or ""
    initials = (first[:1] + last[:1]).upper() or row.owner_username[:2].upper()
    return Card(
        pk=row.pk,
        name=row.name,
        amount=row.amount,
        expected_close_date=row.expected_close_date,
        next_step=row.next_step,
        next_step_date=row.next_step_date,
        stage=stage,
        position=row.position,
        version=row.version,
        is_stale=row.is_stale,
        is_rotting=_is_rotting(stage, row.stage_entered_at, row.last_activity_at, now),
        has_overdue_task=bool(row.has_overdue),
        account_id=row.account_id,
        account_name=row.account_name or "",
        owner_id=row.owner_id,
        owner_name=f"{first} {last}".strip() or row.owner_username,
        owner_initials=initials,
    )


def _after_q(after: str) -> Q:
    """Keyset condition for "cards after (position, id)"; a malformed cursor means the start."""
    position, _, pk = after.partition(":")
    try:
        p, i = float(position), int(pk)
    except ValueError:
        return Q()
    return Q(position__gt=p) | Q(position=p, pk__gt=i)


def _column_rows(
    *, base: QuerySet[Opportunity], stages: list[Stage], now: datetime, after: str = ""
) -> list[_CardRow]:
    """Up to CARDS_PER_PAGE + 1 cards of each stage, in one statement.

    Each column is `WHERE stage_id = s ORDER BY position, id LIMIT n`: an index range scan on
    opp_stage_position, never a window over the whole table. PostgreSQL runs it once per
    stage through a LATERAL join (planned once); SQLite, which has no LATERAL, gets the same
    per-column reads glued with UNION ALL. RawQuerySet applies the model fields' converters.
    """
    if not stages:
        return []
    limit = CARDS_PER_PAGE + 1
    if after:
        base = base.filter(_after_q(after))
    if connection.vendor == "postgresql":
        inner = base.filter(stage_id=RawSQL('"board_stage"."id"', ()))
        qs = _card_queryset(inner, now).order_by("position", "id")[:limit]
        try:
            sql, params = qs.query.sql_with_params()
        except EmptyResultSet:  # e.g. marketing: visible_to() is none()
            return []
        ids = [stage.pk for stage in stages]
        marks = ", ".join(["%s"] * len(ids))
        lateral = (
            f'SELECT cards.* FROM "pipeline_stage" AS "board_stage" CROSS JOIN LATERAL ({sql})'
            f' AS cards WHERE "board_stage"."id" IN ({marks})'
        )
        # psycopg2 already returns Python types (Decimal, date, aware datetime): plain rows
        # skip RawQuerySet's model instances, a measurable cost at 300 cards.
        with connection.cursor() as cursor:
            cursor.execute(lateral, (*params, *ids))
            names = [column[0] for column in cursor.description]
            rows = [_RowProxy(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]
        return cast(list[_CardRow], rows)  # every column of `_card_queryset` is in each dict
    parts: list[str] = []
    all_params: list[Any] = []
    for index, stage in enumerate(stages):
        qs = _card_queryset(base.filter(stage_id=stage.pk), now).order_by("position", "id")
        try:
            sql, params = qs[:limit].query.sql_with_params()
        except EmptyResultSet:
            continue
        parts.append(f"SELECT * FROM ({sql}) AS col{index}")
        all_params.extend(params)
    if not parts:
        return []
    raw = Opportunity.objects.raw(" UNION ALL ".join(parts), all_params)
    return cast(list[_CardRow], list(raw))  # raw rows carry the annotated columns


def _columns(
    *, rows: list[_CardRow], headers: dict[int, StageHeader], stages: list[Stage], now: datetime
) -> list[Column]:
    by_stage: dict[int, list[_CardRow]] = {s.pk: [] for s in stages}
    for row in rows:
        by_stage[row.stage_id].append(row)
    columns = []
    for stage in stages:
        stage_rows = sorted(by_stage[stage.pk], key=lambda r: (r.position, r.pk))
        more = ""
        if len(stage_rows) > CARDS_PER_PAGE:
            stage_rows = stage_rows[:CARDS_PER_PAGE]
            more = f"{stage_rows[-1].position!r}:{stage_rows[-1].pk}"
        cards = [_card(row, stage, now) for row in stage_rows]
        columns.append(Column(header=headers[stage.pk], cards=cards, more_after=more))
    return columns


def stage_headers(
    *, user: User, stages: list[Stage], filters: BoardFilters
) -> dict[int, StageHeader]:
    """Count, Σ amount (and so Σ weighted) per stage, for the deals the filters let through.

    One GROUP BY query for all the given stages.
    """
    headers = {s.pk: StageHeader(stage=s) for s in stages}
    if not stages:
        return headers
    rows = (
        filtered_opportunities(user=user, filters=filters)
        .filter(stage_id__in=list(headers))
        .order_by()
        .values("stage_id")
        .annotate(count=Count("id"), total=Sum("amount"))
    )
    for row in rows:
        header = headers[row["stage_id"]]
        header.count, header.amount = row["count"], row["total"] or Decimal("0")
    return headers


def pipeline_stages() -> list[Stage]:
    """Every live stage of every live pipeline, with its pipeline (one query)."""
    return list(
        Stage.objects.filter(is_archived=False, pipeline__is_archived=False)
        .select_related("pipeline")
        .order_by("pipeline__order", "pipeline__name", "order", "pk")
    )


def board(
    *, user: User, pipeline_id: int, filters: BoardFilters, now: datetime | None = None
) -> Board | None:
    """The whole board of one pipeline for `user` (None if there is no such live pipeline).

    Four queries whatever the number of deals: stages+pipelines, people for the filters,
    the header aggregate and the column cards.
    """
    now = now or timezone.now()
    all_stages = pipeline_stages()
    pipelines: dict[int, Pipeline] = {}
    for stage in all_stages:
        pipelines.setdefault(stage.pipeline_id, stage.pipeline)
    if pipeline_id not in pipelines:
        return None
    stages = [s for s in all_stages if s.pipeline_id == pipeline_id]
    open_stages = [s for s in stages if s.is_open]
    people = list(users_visible_to(user).select_related("team").order_by("first_name", "username"))
    teams = sorted({p.team for p in people if p.team is not None}, key=lambda t: t.path)
    headers = stage_headers(user=user, stages=open_stages, filters=filters)
    base = filtered_opportunities(user=user, filters=filters, now=now)
    rows = _column_rows(base=base, stages=open_stages, now=now)
    return Board(
        pipeline=pipelines[pipeline_id],
        pipelines=list(pipelines.values()),
        columns=_columns(rows=rows, headers=headers, stages=open_stages, now=now),
        won_stages=[s for s in stages if s.kind == Stage.Kind.WON],
        lost_stages=[s for s in stages if s.kind == Stage.Kind.LOST],
        owners=[p for p in people if p.role in (User.Role.REP, User.Role.MANAGER)],
        teams=teams,
        stages=stages,
        people=people,
    )


def more_cards(
    *, user: User, stage: Stage, filters: BoardFilters, after: str, now: datetime | None = None
) -> Column:
    """The next page of one column after the keyset cursor (one query)."""
    now = now or timezone.now()
    base = filtered_opportunities(user=user, filters=filters, now=now)
    rows = _column_rows(base=base, stages=[stage], now=now, after=after)
    header = StageHeader(stage=stage)
    return _columns(rows=rows, headers={stage.pk: header}, stages=[stage], now=now)[0]


def card_source(*, user: User, now: datetime | None = None) -> QuerySet[Opportunity]:
    """Visible deals with what a card shows joined in, so a moved deal becomes a card
    without another query (see `card_from`)."""
    now = now or timezone.now()
    overdue = Activity.objects.open_tasks().filter(opportunity_id=OuterRef("pk"), due_at__lt=now)
    return (
        Opportunity.objects.visible_to(user)
        .select_related("stage", "account", "owner")
        .annotate(has_overdue=Exists(overdue))
    )


def card_from(opportunity: Opportunity, now: datetime | None = None) -> Card:
    """A card from a deal loaded through `card_source` (its stage, account and owner cached)."""
    account, owner = opportunity.account, opportunity.owner
    row = _row(
        {
            **{name: getattr(opportunity, name) for name in _CARD_FIELDS},
            "account_name": account.name if account else "",
            "owner_first": owner.first_name,
            "owner_last": owner.last_name,
            "owner_username": owner.username,
            "has_overdue": getattr(opportunity, "has_overdue", False),
        }
    )
    return _card(row, opportunity.stage, now or timezone.now())


def board_cards(
    *, user: User, pks: list[int], stages: dict[int, Stage], now: datetime | None = None
) -> dict[int, Card]:
    """Cards for some deals (one query); stages come from the caller (they are on the page)."""
    now = now or timezone.now()
    qs = _card_queryset(Opportunity.objects.visible_to(user).filter(pk__in=pks), now)
    return {
        row["id"]: _card(_row(row), stages[row["stage_id"]], now)
        for row in qs
        if row["stage_id"] in stages
    }
