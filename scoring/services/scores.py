"""Scores: computing fit + engagement set-based, writing them on the lead rows with their
history, and reporting which leads scored at or over the MQL threshold.

Scoring never moves a lead's stage: a pass reports its `ThresholdCrossing`s and the lifecycle
owner (leads) decides which of them become MQL (see scoring.handoff).

Concurrency: every pass that writes a score first locks the lead rows (FOR NO KEY UPDATE, pk
order) and only then reads the lead's events, so an event committed meanwhile is never lost
and concurrent batches cannot deadlock. A score is a pure function of (rules, lead, events,
clock), so running any pass twice gives the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from crm.bulk import insert_rows, pg_array, update_rows
from crm.models import OrgSettings
from leads.models import Lead
from scoring.engine import LEAD_FIELDS, Rule, Score, fit_line, score_lead, stored_breakdown
from scoring.models import Category, EngagementEvent, RuleSetVersion, ScoreHistory, ScoringRule

BATCH_SIZE = 5000  # leads per pass (and per rescore batch): one lock + one aggregate + one UPDATE


@dataclass
class RuleSet:
    """The rules a scoring pass uses, split by category, and the version they came from."""

    version: int | None
    fit: list[Rule] = field(default_factory=list)
    engagement: list[Rule] = field(default_factory=list)

    @cached_property
    def fit_lines(self) -> dict[int, dict[str, Any]]:
        """{rule id: its breakdown line} of the fit rules (a fit rule counts once, full points)."""
        return {rule.rule_id: fit_line(rule) for rule in self.fit if rule.rule_id is not None}

    @classmethod
    def of(cls, rules: Iterable[Rule], version: int | None) -> RuleSet:
        rule_set = cls(version=version)
        for rule in rules:
            (rule_set.fit if rule.category == Category.FIT else rule_set.engagement).append(rule)
        return rule_set


def current_rule_set() -> RuleSet:
    """The active rules and the latest version number (two queries)."""
    rules = [Rule.from_row(row) for row in ScoringRule.objects.filter(active=True)]
    version = RuleSetVersion.objects.order_by("-pk").values_list("pk", flat=True).first()
    return RuleSet.of(rules, version)


SCORE_COLUMNS = (
    "pk",
    "score",
    "score_breakdown",
    "fit_score",
    "engagement_score",
    "score_version",
    "last_engaged_at",
    "stage",
    "mql_at",
)


def event_counts(
    *, lead_ids: Sequence[int], rules: Sequence[Rule], now: datetime
) -> dict[int, dict[str, Any]]:
    """Per lead: how many events match each engagement rule (window applied in SQL) and the
    latest event time (`_last`). One aggregate query for the whole batch."""
    if not lead_ids:
        return {}
    aggregates: dict[str, Any] = {"_last": Max("occurred_at")}
    for rule in rules:
        condition = Q(type=rule.event_type)
        if rule.url_pattern:
            condition &= Q(url__contains=rule.url_pattern)  # case-sensitive, like URL paths
        if rule.window_days:
            condition &= Q(occurred_at__gte=now - timedelta(days=rule.window_days))
        # Count a column of the covering index (not the pk): the scan never visits the table.
        aggregates[rule.key] = Count("lead_id", filter=condition)
    low, high = min(lead_ids), max(lead_ids)
    if high - low < 2 * len(lead_ids):
        # A dense pk range (rescore batches): an index range scan beats a long IN list.
        events = EngagementEvent.objects.filter(lead_id__gte=low, lead_id__lte=high)
    elif connection.vendor == "postgresql":
        return _sparse_event_counts(lead_ids, aggregates)
    else:
        events = EngagementEvent.objects.filter(lead_id__any=list(lead_ids))
    rows = events.order_by().values("lead_id").annotate(**aggregates)
    wanted = set(lead_ids)
    return {lead_id: row for row in rows if (lead_id := row.pop("lead_id")) in wanted}


def _sparse_event_counts(
    lead_ids: Sequence[int], aggregates: dict[str, Any]
) -> dict[int, dict[str, Any]]:
    """event_counts for scattered leads (an event batch), on PostgreSQL: the same aggregate,
    run per lead through a LATERAL join on the covering index.

    `lead_id = ANY(1,000 ids)` lets the planner pick a plan from the table's statistics, and
    a fresh or never-analysed events table (a new install, a bulk load, autovacuum behind)
    has none: it then guessed each id matches 0.5 % of the table and chose a parallel
    sequential scan of all events per request (seconds instead of milliseconds). An aggregate
    inside a LATERAL subquery cannot be flattened into a hash join, so every lead is one
    index lookup whatever the statistics say."""
    inner = (
        EngagementEvent.objects.filter(lead_id=RawSQL("wanted.id", ()))
        .order_by()
        .values("lead_id")
        .annotate(**aggregates)
    )
    sql, params = inner.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            # the inner statement is the ORM's; the ids are one bound array literal
            f"SELECT counted.* FROM unnest(%s::bigint[]) AS wanted(id) "  # nosec B608
            f"CROSS JOIN LATERAL ({sql}) AS counted",
            [pg_array(sorted(set(lead_ids))), *params],
        )
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {row.pop("lead_id"): row for row in rows}


def compute_scores(
    *,
    leads: list[dict[str, Any]],
    rule_set: RuleSet,
    now: datetime,
    org: OrgSettings,
) -> dict[int, Score]:
    """Scores for lead dicts (LEAD_FIELDS + pk + last_engaged_at): one aggregate query.

    A lead dict carrying its current fit as `_fit` (new events only, see score_queryset)
    keeps it: only its engagement is computed."""
    counts = event_counts(
        lead_ids=[lead["pk"] for lead in leads], rules=rule_set.engagement, now=now
    )
    scores = {}
    for lead in leads:
        lead_counts = counts.get(lead["pk"], {})
        if lead_counts.get("_last"):
            lead["last_engaged_at"] = max(
                filter(None, [lead.get("last_engaged_at"), lead_counts["_last"]])
            )
        scores[lead["pk"]] = score_lead(
            lead=lead,
            fit_rules=rule_set.fit,
            engagement_rules=rule_set.engagement,
            counts=lead_counts,
            now=now,
            decay_percent=org.engagement_decay_percent,
            decay_days=org.engagement_decay_days,
            fit=lead.get("_fit"),
        )
    return scores


def _stored_fit(lead: dict[str, Any], rule_set: RuleSet) -> tuple[int, list[dict[str, Any]]] | None:
    """The fit part of a stored breakdown (lines of the current rule set's fit rules), or None
    when the stored form predates the compact one."""
    lines = rule_set.fit_lines
    stored = lead["score_breakdown"] or []
    if any(not isinstance(line, list) for line in stored):
        return None
    return lead["fit_score"], [lines[line[0]] for line in stored if line[0] in lines]


@dataclass(frozen=True, slots=True)
class ThresholdCrossing:
    """A lead a pass scored at or over the MQL threshold, with its stage and `mql_at` as the
    pass read them under its row lock (so whoever decides needs no second read)."""

    lead_id: int
    score: int
    stage: str
    mql_at: datetime | None


@dataclass
class ScoringPass:
    """What a scoring pass did: the leads it scored (locked and written), how many scores
    changed, and the leads at or over the MQL threshold. Deciding what a crossing means for
    the lifecycle is the caller's business (leads.services.qualify_crossers)."""

    scored: list[int] = field(default_factory=list)
    changed: int = 0
    crossed: list[ThresholdCrossing] = field(default_factory=list)

    def add(self, other: ScoringPass) -> None:
        self.scored += other.scored
        self.changed += other.changed
        self.crossed += other.crossed


def threshold_crossings(
    rows: Iterable[tuple[int, int, str, datetime | None]], *, threshold: int
) -> list[ThresholdCrossing]:
    """(pk, score, stage, mql_at) rows at or over `threshold`, as crossings."""
    return [
        ThresholdCrossing(lead_id=pk, score=score, stage=stage, mql_at=mql_at)
        for pk, score, stage, mql_at in rows
        if score >= threshold
    ]


def score_queryset(
    queryset: QuerySet[Lead],
    *,
    reason: str,
    now: datetime,
    rule_set: RuleSet | None = None,
    org: OrgSettings | None = None,
    events_only: bool = False,
    skip_locked: bool = False,
) -> ScoringPass:
    """Lock, score and write the leads of `queryset`, and record their history (must run in
    a transaction). Queries: lock+read, aggregate, UPDATE, history INSERT. The crossings come
    back in the result; nothing here changes a stage.

    events_only: only new engagement events changed (not the leads' fields): the lock reads
    the narrow score columns and leads already scored under the current rules keep their fit
    (one more read fetches the fields of the others).

    skip_locked: leave out leads another transaction holds (they are not in `scored`; the
    caller scores them again once its own writes are committed)."""
    rule_set = rule_set or current_rule_set()
    org = org or OrgSettings.load()
    leads = _lock_and_read(
        queryset, rule_set=rule_set, events_only=events_only, skip_locked=skip_locked
    )
    if not leads:
        return ScoringPass()
    for lead in leads:
        lead["previous_engaged_at"] = lead["last_engaged_at"]
    before = {
        lead["pk"]: (lead["score"], lead["fit_score"], lead["engagement_score"]) for lead in leads
    }
    scores = compute_scores(leads=leads, rule_set=rule_set, now=now, org=org)
    _write_scores(leads=leads, scores=scores, version=rule_set.version, now=now)
    moved = [
        (lead["pk"], score)
        for lead in leads
        if before[lead["pk"]] != ((score := scores[lead["pk"]]).total, score.fit, score.engagement)
    ]
    _record_history(moved, version=rule_set.version, reason=reason, now=now)
    return ScoringPass(
        scored=[lead["pk"] for lead in leads],
        changed=len(moved),
        crossed=threshold_crossings(
            (
                (lead["pk"], scores[lead["pk"]].total, lead["stage"], lead["mql_at"])
                for lead in leads
            ),
            threshold=org.mql_threshold,
        ),
    )


def _lock_and_read(
    queryset: QuerySet[Lead], *, rule_set: RuleSet, events_only: bool, skip_locked: bool
) -> list[dict[str, Any]]:
    """Lock the leads (pk order) and read what scoring them needs, as dicts."""
    fields = [f for f in LEAD_FIELDS if f not in SCORE_COLUMNS]
    locked = queryset.select_for_update(
        no_key=True, of=("self",), skip_locked=skip_locked
    ).order_by("pk")
    if not events_only:
        return list(locked.values(*SCORE_COLUMNS, *fields))
    leads = list(locked.values(*SCORE_COLUMNS))
    for lead in leads:
        current = lead["score_version"] == rule_set.version
        lead["_fit"] = _stored_fit(lead, rule_set) if current else None
    unscored = {lead["pk"]: lead for lead in leads if lead["_fit"] is None}
    if unscored:
        for row in Lead.objects.filter(pk__any=list(unscored)).values("pk", *fields):
            unscored[row["pk"]].update(row)
    return leads


def _record_history(
    moved: Sequence[tuple[int, Score]], *, version: int | None, reason: str, now: datetime
) -> None:
    """One ScoreHistory row per lead whose score changed (one INSERT; none when empty)."""
    insert_rows(
        ScoreHistory,
        {
            "lead_id": [pk for pk, _ in moved],
            "at": [now] * len(moved),
            "score": [score.total for _, score in moved],
            "fit_score": [score.fit for _, score in moved],
            "engagement_score": [score.engagement for _, score in moved],
            "version": [version] * len(moved),
            "reason": [reason] * len(moved),
        },
    )


def _write_scores(
    *, leads: list[dict[str, Any]], scores: dict[int, Score], version: int | None, now: datetime
) -> None:
    """Rows whose score or breakdown changed: one UPDATE … FROM (VALUES …) on PostgreSQL
    (bulk_update elsewhere). Unchanged rows only get the new version stamp, in one narrow
    UPDATE that touches no indexed column (cheap, HOT-eligible): after a rule change most
    leads usually keep their score."""
    changed: list[dict[str, Any]] = []
    unchanged: list[dict[str, Any]] = []
    stored: dict[int, list[list[Any]]] = {}
    for lead in leads:
        score = scores[lead["pk"]]
        stored[lead["pk"]] = stored_breakdown(score.breakdown)
        same = (
            lead["score"] == score.total
            and lead["fit_score"] == score.fit
            and lead["engagement_score"] == score.engagement
            and lead["score_breakdown"] == stored[lead["pk"]]
            and lead["last_engaged_at"] == lead["previous_engaged_at"]
        )
        (unchanged if same else changed).append(lead)
    if unchanged:
        Lead.objects.filter(pk__any=[lead["pk"] for lead in unchanged]).update(
            score_version=version, scored_at=now
        )
    if not changed:
        return
    update_rows(
        Lead,
        [lead["pk"] for lead in changed],
        {
            "score": [scores[lead["pk"]].total for lead in changed],
            "fit_score": [scores[lead["pk"]].fit for lead in changed],
            "engagement_score": [scores[lead["pk"]].engagement for lead in changed],
            "score_breakdown": [stored[lead["pk"]] for lead in changed],
            "score_version": [version] * len(changed),
            "scored_at": [now] * len(changed),
            "last_engaged_at": [lead.get("last_engaged_at") for lead in changed],
        },
    )


@dataclass
class NewLeadScoring:
    """Scores for leads about to be inserted (leads.services.create_leads): `fill` writes the
    score columns into the rows before the INSERT, `record` the history after it and returns
    the crossings. A new lead has no events yet, so only fit rules apply, and new leads are
    written already scored, with no UPDATE after the INSERT. Three queries in all (rules,
    version, settings; none when the caller hands over its rule set and settings), plus the
    writes."""

    now: datetime
    rule_set: RuleSet = field(default_factory=lambda: current_rule_set())
    org: OrgSettings = field(default_factory=lambda: OrgSettings.load())

    def fill(self, rows: list[dict[str, Any]]) -> None:
        """Rows: dicts of field values; unsent fields count as empty."""
        for row in rows:
            score = score_lead(
                lead=row,
                fit_rules=self.rule_set.fit,
                engagement_rules=[],
                counts={},
                now=self.now,
                decay_percent=self.org.engagement_decay_percent,
                decay_days=self.org.engagement_decay_days,
            )
            row.update(
                score=score.total,
                fit_score=score.fit,
                engagement_score=0,
                score_breakdown=stored_breakdown(score.breakdown),
                score_version=self.rule_set.version,
                scored_at=self.now,
            )

    def record(self, leads: list[tuple[int, dict[str, Any]]]) -> list[ThresholdCrossing]:
        """(pk, filled row) pairs, after the INSERT: history for those starting above zero;
        returns the new leads at or over the MQL threshold (for the lifecycle to decide)."""
        scored = [(pk, row) for pk, row in leads if row.get("score")]
        insert_rows(
            ScoreHistory,
            {
                "lead_id": [pk for pk, _ in scored],
                "at": [self.now] * len(scored),
                "score": [row["score"] for _, row in scored],
                "fit_score": [row["fit_score"] for _, row in scored],
                "engagement_score": [0] * len(scored),
                "version": [row["score_version"] for _, row in scored],
                "reason": [ScoreHistory.Reason.LEAD] * len(scored),
            },
        )
        return threshold_crossings(
            (
                (pk, row["score"], row.get("stage", Lead.Lifecycle.NEW), row.get("mql_at"))
                for pk, row in scored
            ),
            threshold=self.org.mql_threshold,
        )


@transaction.atomic
def score_leads(*, lead_ids: Iterable[int], reason: str = ScoreHistory.Reason.LEAD) -> ScoringPass:
    """(Re)compute fit + engagement of these leads set-based (a few queries per 5,000 leads).
    For callers in leads (the import, lead edits) inside their transaction: they hand the
    returned crossings to the lifecycle (leads.services.rescore_leads does both)."""
    ids = sorted(set(lead_ids))
    result = ScoringPass()
    if not ids:
        return result
    now, rule_set, org = timezone.now(), current_rule_set(), OrgSettings.load()
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        result.add(
            score_queryset(
                Lead.objects.filter(pk__any=chunk),
                reason=reason,
                now=now,
                rule_set=rule_set,
                org=org,
            )
        )
    return result
