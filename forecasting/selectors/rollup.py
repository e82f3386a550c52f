"""The forecast rollup: nodes of the team tree, figures per row, quotas and adjustments.

Everything starts from `Opportunity.objects.visible_to(viewer)` (or the snapshot lines' same
scope) and is set-based: one aggregate grouped by owner, then owners are mapped to the
node's children in Python using the teams' materialised paths (each path segment is 7
characters, "000012.").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from crm.models import Team, User, users_visible_to
from forecasting.models import ForecastAdjustment, ForecastSnapshot, Quota, SnapshotLine
from forecasting.periods import Period, week_start
from pipeline.models import ForecastCategory, Opportunity, Stage

ZERO = Decimal("0")
CENT = Decimal("0.01")
SEGMENT = 7  # len("000001.")
FIGURES = (
    "quota",
    "closed_won",
    "commit",
    "best_case",
    "pipeline",
    "omitted",
    "weighted",
    "commit_forecast",
    "best_case_forecast",
    "open_pipeline",
    "attainment",
    "gap",
    "coverage",
)
OPEN, WON, LOST = Stage.Kind.OPEN, Stage.Kind.WON, Stage.Kind.LOST
CATEGORY_KEYS = ("closed_won", "commit", "best_case", "pipeline", "omitted")


@dataclass(frozen=True)
class Node:
    """A node of the team tree as the forecast sees it: the whole org, a team or one person."""

    kind: str  # "org" | "team" | "user"
    id: int | None
    name: str
    path: str = ""  # team path ("" = the org); a user's own team path for "user"

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "id": self.id, "name": self.name}

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.kind, self.id)


@dataclass
class Figures:
    """The money in one row. Plain sums per category; derived figures are properties."""

    quota: Decimal = ZERO
    closed_won: Decimal = ZERO
    commit: Decimal = ZERO
    best_case: Decimal = ZERO
    pipeline: Decimal = ZERO
    omitted: Decimal = ZERO
    weighted: Decimal = ZERO
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORY_KEYS, 0))
    # Commit after managers' adjustments (equals `commit` when nobody adjusted anything below).
    adjusted_commit: Decimal = ZERO
    adjustment: ForecastAdjustment | None = None  # an adjustment made on exactly this node
    # Last week's figures (from the baseline snapshot), for the change column.
    last_week_commit_forecast: Decimal | None = None
    last_week_open_pipeline: Decimal | None = None

    def add(self, other: Figures) -> None:
        for name in ("closed_won", "commit", "best_case", "pipeline", "omitted", "weighted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, value in other.counts.items():
            self.counts[key] += value
        if other.last_week_commit_forecast is not None:
            self.last_week_commit_forecast = (
                self.last_week_commit_forecast or ZERO
            ) + other.last_week_commit_forecast
            self.last_week_open_pipeline = (self.last_week_open_pipeline or ZERO) + (
                other.last_week_open_pipeline or ZERO
            )

    @property
    def commit_forecast(self) -> Decimal:
        return self.closed_won + self.commit

    @property
    def adjusted_commit_forecast(self) -> Decimal:
        return self.closed_won + self.adjusted_commit

    @property
    def is_adjusted(self) -> bool:
        return self.adjusted_commit != self.commit

    @property
    def best_case_forecast(self) -> Decimal:
        return self.closed_won + self.commit + self.best_case

    @property
    def open_pipeline(self) -> Decimal:
        return self.pipeline + self.best_case + self.commit

    @property
    def attainment(self) -> float | None:
        return round(float(self.closed_won / self.quota), 4) if self.quota else None

    @property
    def gap(self) -> Decimal:
        """What is still missing to reach quota (negative when over quota)."""
        return self.quota - self.closed_won

    @property
    def coverage(self) -> float | None:
        """Open pipeline ÷ remaining quota; None when nothing remains to cover."""
        remaining = self.quota - self.closed_won
        return round(float(self.open_pipeline / remaining), 4) if remaining > 0 else None

    @property
    def change_commit_forecast(self) -> Decimal | None:
        if self.last_week_commit_forecast is None:
            return None
        return self.commit_forecast - self.last_week_commit_forecast

    @property
    def change_open_pipeline(self) -> Decimal | None:
        if self.last_week_open_pipeline is None:
            return None
        return self.open_pipeline - self.last_week_open_pipeline

    @property
    def deal_count(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        """The API figures: money as strings with cents, ratios as floats (null = undefined)."""
        out: dict[str, Any] = {}
        for name in FIGURES:
            value = getattr(self, name)
            out[name] = str(value.quantize(CENT)) if isinstance(value, Decimal) else value
        return out


@dataclass
class Row:
    node: Node
    figures: Figures
    drill_url_kind: str = ""  # "team" | "user"


@dataclass
class Rollup:
    """A node's forecast: one row per direct child plus the node's total."""

    period: Period
    node: Node
    rows: list[Row]
    total: Figures
    baseline: ForecastSnapshot | None
    parents: list[Node]  # breadcrumb from the viewer's top node down to `node`

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "node": self.node.as_dict(),
            "rows": [{"node": r.node.as_dict(), **r.figures.as_dict()} for r in self.rows],
            "total": self.total.as_dict(),
        }


# --- nodes and scope ----------------------------------------------------------------------


def _team_node(team: Team) -> Node:
    return Node("team", team.pk, team.name, team.path)


def _user_node(user: User) -> Node:
    return Node("user", user.pk, str(user), user.team.path if user.team_id and user.team else "")


def home_node(viewer: User) -> Node:
    """The node a viewer sees by default: admin → the org, a manager → the highest team they
    manage, anyone else → themselves."""
    if viewer.is_admin:
        return Node("org", None, "Organisation", "")
    if viewer.role == User.Role.MANAGER:
        team = Team.objects.filter(manager=viewer).order_by("depth", "path").first()
        if team is not None:
            return _team_node(team)
    return _user_node(viewer)


def visible_teams(viewer: User) -> QuerySet[Team]:
    """Teams whose forecast `viewer` may open (404 for any other id)."""
    if viewer.is_admin:
        return Team.objects.all()
    if viewer.role == User.Role.MANAGER:
        return Team.objects.subtree_of(viewer)
    return Team.objects.none()


def resolve_node(viewer: User, *, team_id: int | None = None, user_id: int | None = None) -> Node:
    """The requested node if the viewer may see it, else Http404; none requested → home."""
    if team_id is not None:
        team = visible_teams(viewer).filter(pk=team_id).first()
        if team is None:
            raise Http404("No such team in your part of the organisation.")
        return _team_node(team)
    if user_id is not None:
        user = users_visible_to(viewer).select_related("team").filter(pk=user_id).first()
        if user is None:
            raise Http404("No such person in your part of the organisation.")
        return _user_node(user)
    return home_node(viewer)


def breadcrumb(viewer: User, node: Node) -> list[Node]:
    """The path from the viewer's home node down to `node` (one query)."""
    home = home_node(viewer)
    if node.kind == "org" or node == home:
        return []
    prefix_paths = [node.path[:i] for i in range(SEGMENT, len(node.path) + 1, SEGMENT)]
    teams = Team.objects.filter(path__in=prefix_paths, path__startswith=home.path).order_by("path")
    crumbs = [home] if home.kind == "org" else []
    crumbs += [_team_node(t) for t in teams if t.path != node.path or node.kind == "user"]
    return crumbs


# --- the rollup ---------------------------------------------------------------------------


def _period_q(period: Period) -> Q:
    """Deals that count in a period: open by expected close date, won by closed date."""
    return Q(
        stage__kind=OPEN,
        expected_close_date__gte=period.start,
        expected_close_date__lt=period.end,
    ) | Q(stage__kind=WON, closed_at__gte=period.start_at, closed_at__lt=period.end_at)


def scoped_deals(
    viewer: User, node: Node, owner_ids: list[int] | None = None
) -> QuerySet[Opportunity]:
    """The viewer's deals narrowed to a node of the tree.

    With `owner_ids` (the node's people, already fetched) the narrowing is a plain
    `owner_id IN (…)`: PostgreSQL then scans the period's rows once instead of looping over
    owners through the team join.
    """
    qs = Opportunity.objects.visible_to(viewer)
    if node.kind == "team":
        if owner_ids is not None:
            return qs.filter(owner_id__in=owner_ids)
        return qs.filter(owner__team__path__startswith=node.path)
    if node.kind == "user":
        return qs.filter(owner_id=node.id)
    return qs


def per_owner_figures(
    viewer: User,
    node: Node,
    period: Period,
    *,
    baseline_at: Any = None,
    owner_ids: list[int] | None = None,
) -> dict[int, Figures]:
    """Figures per deal owner: one aggregate over the open deals closing in the period and one
    over the deals won in it (plus closed-won before `baseline_at` for the week-over-week
    change). Split in two so each is a range scan of its own covering index
    (`forecasting` migration 0002) instead of a bitmap OR that visits the table."""
    scoped = scoped_deals(viewer, node, owner_ids).order_by()
    # Group by (owner, stage, category) with plain sums and no join to the stage: the WHERE
    # clause is the index range alone, PostgreSQL reads the covering index only, and the
    # stage's kind and probability are applied to the (few hundred) groups in Python.
    stage_info = {
        pk: (kind, probability)
        for pk, kind, probability in Stage.objects.values_list("pk", "kind", "probability")
    }
    open_rows = (
        scoped.filter(expected_close_date__gte=period.start, expected_close_date__lt=period.end)
        .values("owner_id", "stage_id", "forecast_category")
        .annotate(total=Sum("amount"), n=Count("owner_id"))
    )
    won_aggregates: dict[str, Any] = {"total": Sum("amount"), "n": Count("owner_id")}
    if baseline_at is not None:
        won_aggregates["before"] = Sum("amount", filter=Q(closed_at__lt=baseline_at))
    won_rows = (
        scoped.filter(closed_at__gte=period.start_at, closed_at__lt=period.end_at)
        .values("owner_id", "stage_id")
        .annotate(**won_aggregates)
    )
    out: dict[int, Figures] = {}
    weighted_x100: dict[int, Decimal] = defaultdict(lambda: ZERO)

    def figures_of(owner_id: int) -> Figures:
        if owner_id not in out:
            out[owner_id] = Figures(last_week_commit_forecast=ZERO if baseline_at else None)
        return out[owner_id]

    for row in open_rows:
        kind, probability = stage_info.get(row["stage_id"], ("", 0))
        category = row["forecast_category"]
        if kind != OPEN or category not in ("commit", "best_case", "pipeline", "omitted"):
            continue
        fig = figures_of(row["owner_id"])
        total = row["total"] or ZERO
        setattr(fig, category, getattr(fig, category) + total)
        fig.counts[category] += row["n"]
        if category != ForecastCategory.OMITTED:
            weighted_x100[row["owner_id"]] += total * probability
    for owner_id, value in weighted_x100.items():
        out[owner_id].weighted = (Decimal(value) / 100).quantize(CENT)
    for row in won_rows:
        if stage_info.get(row["stage_id"], ("", 0))[0] != WON:
            continue
        fig = figures_of(row["owner_id"])
        fig.closed_won += row["total"] or ZERO
        fig.counts["closed_won"] += row["n"]
        if baseline_at is not None:
            fig.last_week_commit_forecast = (fig.last_week_commit_forecast or ZERO) + Decimal(
                row["before"] or 0
            )
    return out


def baseline_snapshot(today: date | None = None) -> ForecastSnapshot | None:
    """Last week's snapshot (the latest completed one from before this week)."""
    this_week = week_start(today or timezone.localdate())
    return (
        ForecastSnapshot.objects.filter(week_start__lt=this_week, completed_at__isnull=False)
        .order_by("-week_start")
        .first()
    )


def _baseline_open(viewer: User, node: Node, period: Period, snapshot: ForecastSnapshot) -> dict:
    """Per owner: last week's commit and open pipeline (snapshot lines closing in the period)."""
    lines = SnapshotLine.objects.visible_to(viewer).filter(
        snapshot=snapshot,
        expected_close_date__gte=period.start,
        expected_close_date__lt=period.end,
    )
    if node.kind == "team":
        lines = lines.filter(owner__team__path__startswith=node.path)
    elif node.kind == "user":
        lines = lines.filter(owner_id=node.id)
    rows = (
        lines.order_by()
        .values("owner_id")
        .annotate(
            commit=Sum("amount", filter=Q(forecast_category=ForecastCategory.COMMIT)),
            open_pipeline=Sum(
                "amount",
                filter=Q(
                    forecast_category__in=[
                        ForecastCategory.COMMIT,
                        ForecastCategory.BEST_CASE,
                        ForecastCategory.PIPELINE,
                    ]
                ),
            ),
        )
    )
    return {r["owner_id"]: (r["commit"] or ZERO, r["open_pipeline"] or ZERO) for r in rows}


def _subtree(node: Node) -> tuple[list[Team], list[User]]:
    """The node's teams and people (two queries; a person node has no teams)."""
    if node.kind == "user":
        return [], list(User.objects.filter(pk=node.id or 0).select_related("team"))
    teams = list(Team.objects.filter(path__startswith=node.path).order_by("path"))
    people_qs = User.objects.select_related("team")
    if node.kind == "team":
        people_qs = people_qs.filter(team__path__startswith=node.path)
    return teams, list(people_qs)


def _owner_figures(
    viewer: User,
    node: Node,
    period: Period,
    *,
    baseline: ForecastSnapshot | None,
    everyone: list[User],
) -> dict[int, Figures]:
    """Figures per deal owner, with last week's figures from the baseline snapshot (if any)."""
    owners = per_owner_figures(
        viewer,
        node,
        period,
        baseline_at=baseline.taken_at if baseline else None,
        owner_ids=[p.pk for p in everyone] if node.kind == "team" else None,
    )
    if baseline is None:
        return owners
    for owner_id, (commit, open_pipeline) in _baseline_open(viewer, node, period, baseline).items():
        fig = owners.setdefault(owner_id, Figures(last_week_commit_forecast=ZERO))
        fig.last_week_commit_forecast = (fig.last_week_commit_forecast or ZERO) + commit
        fig.last_week_open_pipeline = open_pipeline
    for fig in owners.values():
        if fig.last_week_open_pipeline is None:
            fig.last_week_open_pipeline = ZERO
        if fig.last_week_commit_forecast is None:
            fig.last_week_commit_forecast = ZERO
    return owners


@dataclass
class _Targets:
    """A period's quotas and commit adjustments for a subtree, by person and by team id."""

    quota_user: dict[int, Decimal] = field(default_factory=dict)
    quota_team: dict[int, Decimal] = field(default_factory=dict)
    adjust_user: dict[int, ForecastAdjustment] = field(default_factory=dict)
    adjust_team: dict[int, ForecastAdjustment] = field(default_factory=dict)


def _targets(period: Period, person_ids: set[int], team_ids: set[int]) -> _Targets:
    """Quotas and adjustments for the subtree (two queries). A row names a person or a team
    (a check constraint), never both."""
    targets = _Targets()
    subject = Q(user_id__in=person_ids) | Q(team_id__in=team_ids)
    for q in Quota.objects.filter(period=period.label).filter(subject):
        if q.user_id:
            targets.quota_user[q.user_id] = q.amount
        elif q.team_id:
            targets.quota_team[q.team_id] = q.amount
    for a in ForecastAdjustment.objects.filter(period=period.label).filter(subject):
        if a.user_id:
            targets.adjust_user[a.user_id] = a
        elif a.team_id:
            targets.adjust_team[a.team_id] = a
    return targets


def _empty_figures(baseline: ForecastSnapshot | None) -> Figures:
    return Figures(
        last_week_commit_forecast=ZERO if baseline else None,
        last_week_open_pipeline=ZERO if baseline else None,
    )


def _person_figures(
    people: list[User],
    owners: dict[int, Figures],
    targets: _Targets,
    baseline: ForecastSnapshot | None,
) -> dict[int, Figures]:
    """Each person's own figures, quota and (adjusted) commit."""
    person_fig: dict[int, Figures] = {}
    for person in people:
        fig = owners.get(person.pk) or _empty_figures(baseline)
        fig.quota = targets.quota_user.get(person.pk, ZERO)
        adjustment = targets.adjust_user.get(person.pk)
        fig.adjustment = adjustment
        fig.adjusted_commit = adjustment.amount if adjustment else fig.commit
        person_fig[person.pk] = fig
    return person_fig


def _team_figures(
    teams: list[Team],
    people: list[User],
    person_fig: dict[int, Figures],
    targets: _Targets,
    baseline: ForecastSnapshot | None,
) -> dict[int, Figures]:
    """Each team's subtree summed, bottom-up: deepest first, so every child is complete
    before its parent. A team's quota is its own or else its children's sum; an adjustment
    replaces the team's adjusted commit, which its parent then sums."""
    team_fig = {t.pk: _empty_figures(baseline) for t in teams}
    quota_sum: dict[int, Decimal] = defaultdict(lambda: ZERO)
    adjusted_sum: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for person in people:
        if person.team_id is not None and person.team_id in team_fig:
            fig = person_fig[person.pk]
            team_fig[person.team_id].add(fig)
            quota_sum[person.team_id] += fig.quota
            adjusted_sum[person.team_id] += fig.adjusted_commit
    for team in sorted(teams, key=lambda t: -t.depth):
        fig = team_fig[team.pk]
        fig.quota = targets.quota_team.get(team.pk, quota_sum[team.pk])
        adjustment = targets.adjust_team.get(team.pk)
        fig.adjustment = adjustment
        fig.adjusted_commit = adjustment.amount if adjustment else adjusted_sum[team.pk]
        if team.parent_id is not None and team.parent_id in team_fig:
            team_fig[team.parent_id].add(fig)
            quota_sum[team.parent_id] += fig.quota
            adjusted_sum[team.parent_id] += fig.adjusted_commit
    return team_fig


def _rows_and_total(
    node: Node,
    *,
    teams: list[Team],
    people: list[User],
    person_fig: dict[int, Figures],
    team_fig: dict[int, Figures],
    baseline: ForecastSnapshot | None,
) -> tuple[list[Row], Figures]:
    """The node's rows (its direct sub-teams, then the people sitting directly in it, by
    name) and its total."""
    if node.kind == "user":
        fig = person_fig[node.id or 0]
        return [Row(node, fig, "user")], fig
    rows: list[Row] = []
    child_depth = 0 if node.kind == "org" else len(node.path) // SEGMENT
    for team in teams:
        if team.depth == child_depth:
            rows.append(Row(_team_node(team), team_fig[team.pk], "team"))
    direct_team_id = node.id if node.kind == "team" else None
    for person in sorted(people, key=lambda p: str(p)):
        if person.team_id == direct_team_id:
            rows.append(Row(_user_node(person), person_fig[person.pk], "user"))
    if node.kind == "team":
        return rows, team_fig[node.id or 0]
    total = _empty_figures(baseline)
    for row in rows:
        total.add(row.figures)
        total.quota += row.figures.quota
        total.adjusted_commit += row.figures.adjusted_commit
    return rows, total


def forecast_rollup(
    *, viewer: User, period: Period, node: Node | None = None, with_changes: bool = True
) -> Rollup:
    """The rollup of `node` (default: the viewer's home node) for `period`.

    Rows: each direct sub-team (its whole subtree summed) and each person sitting directly in
    the node's team. Quotas: a person's own; a team's own or else the sum of its members' and
    sub-teams' (recursively). Adjustments replace the adjusted node's commit in
    `adjusted_commit`, and parents sum their children's adjusted commits. A fixed number of
    queries whatever the size of the org.
    """
    node = node or home_node(viewer)
    baseline = baseline_snapshot() if with_changes else None
    teams, everyone = _subtree(node)
    owners = _owner_figures(viewer, node, period, baseline=baseline, everyone=everyone)
    people = [
        p
        for p in everyone
        if p.pk in owners
        or node.kind == "user"
        or (p.is_active and p.role in (User.Role.REP, User.Role.MANAGER))
    ]
    targets = _targets(period, {p.pk for p in people}, {t.pk for t in teams})
    person_fig = _person_figures(people, owners, targets, baseline)
    team_fig = _team_figures(teams, people, person_fig, targets, baseline)
    rows, total = _rows_and_total(
        node,
        teams=teams,
        people=people,
        person_fig=person_fig,
        team_fig=team_fig,
        baseline=baseline,
    )
    return Rollup(period, node, rows, total, baseline, breadcrumb(viewer, node))


def node_deals(*, viewer: User, node: Node, period: Period) -> QuerySet[Opportunity]:
    """A node's deals that count in the period (a rep's deal list when drilling down)."""
    return (
        scoped_deals(viewer, node)
        .filter(_period_q(period))
        .select_related("stage", "owner", "account")
        .order_by("stage__kind", "-amount", "pk")
    )
