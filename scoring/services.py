"""Scoring state changes: rules (each change = a new rule-set version + a rescore job), scoring
leads set-based, rescoring and decay. Engagement events come in through `scoring.events`.

Concurrency: every path that writes a score first locks the lead rows (FOR NO KEY UPDATE, pk
order) and only then reads the lead's events, so an event committed meanwhile is never lost
and concurrent batches cannot deadlock. A score is a pure function of (rules, lead, events,
clock), so running any of these twice gives the same result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.audit import diff, record, record_many
from crm.bulk import insert_rows, pg_array, update_rows
from crm.models import OrgSettings, User
from leads.models import Lead
from scoring.engine import (
    FIELD_CHOICES,
    LEAD_FIELDS,
    NUMERIC_OPERATORS,
    VALUELESS_OPERATORS,
    Rule,
    Score,
    _number,
    fit_line,
    score_lead,
    stored_breakdown,
)
from scoring.models import (
    Category,
    EngagementEvent,
    Operator,
    RescoreBatch,
    RescoreJob,
    RuleSetVersion,
    ScoreHistory,
    ScoringRule,
)

BATCH_SIZE = 5000  # leads per rescore batch: one lock + one aggregate + one UPDATE each
EVENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,49}$")
EDITOR_ROLES = frozenset({User.Role.ADMIN, User.Role.MARKETING})


def can_edit_rules(user: User | AnonymousUser | None) -> bool:
    """Marketing owns the scoring model; admins may change it too. Everyone else (signed out
    included) reads."""
    return isinstance(user, User) and (user.is_admin or user.role in EDITOR_ROLES)


# --- the rule set --------------------------------------------------------------------------


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


def clean_rule(rule: ScoringRule) -> ScoringRule:
    """Check and normalise a rule in place; raise ValidationError({field: message}).

    Fields that do not apply to the rule's category are cleared, so a rule never carries
    a half-meaningful leftover (e.g. an event type on a fit rule)."""
    errors: dict[str, str] = {}
    if not (rule.name or "").strip():
        errors["name"] = "Name the rule."
    rule.name = (rule.name or "").strip()
    if rule.category not in Category.values:
        errors["category"] = "Choose fit or engagement."
    if not isinstance(rule.points, int) or isinstance(rule.points, bool):
        errors["points"] = "Points must be a whole number (negative to subtract)."
    elif not -1000 <= rule.points <= 1000:
        errors["points"] = "Points must be between −1000 and 1000."
    if rule.category == Category.FIT:
        rule.event_type, rule.url_pattern = "", ""
        rule.max_occurrences, rule.window_days = None, None
        errors.update(_clean_fit(rule))
    elif rule.category == Category.ENGAGEMENT:
        rule.field, rule.operator, rule.value = "", "", None
        rule.event_type = (rule.event_type or "").strip().lower()
        rule.url_pattern = (rule.url_pattern or "").strip()
        if not EVENT_TYPE_RE.match(rule.event_type):
            errors["event_type"] = (
                "Give an event type: lower-case letters, digits, _ . : - (e.g. email_opened)."
            )
        if rule.max_occurrences is not None and rule.max_occurrences < 1:
            errors["max_occurrences"] = "The cap must be at least 1 (or empty for no cap)."
        if rule.window_days is not None and rule.window_days < 1:
            errors["window_days"] = "The window must be at least 1 day (or empty for all time)."
    if errors:
        raise ValidationError(errors)
    return rule


def _clean_fit(rule: ScoringRule) -> dict[str, str]:
    errors: dict[str, str] = {}
    rule.field = (rule.field or "").strip()
    is_attribute = rule.field.startswith("attributes.") and len(rule.field) > len("attributes.")
    if rule.field not in FIELD_CHOICES and not is_attribute:
        errors["field"] = (
            f"Unknown field. Use one of {', '.join(FIELD_CHOICES)} or attributes.<key>."
        )
    op, value = rule.operator, rule.value
    if op not in Operator.values:
        errors["operator"] = f"Unknown operator. Use one of {', '.join(Operator.values)}."
        return errors
    if op in VALUELESS_OPERATORS:
        rule.value = None
    elif op == Operator.IN:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
            errors["value"] = "Give a non-empty list of values."
        rule.value = value
    elif op == Operator.BETWEEN:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        numbers = [_number(v) for v in value] if isinstance(value, list) else []
        if len(numbers) != 2 or None in numbers:
            errors["value"] = "Give two numbers: the lower and the upper bound."
        elif numbers[0] > numbers[1]:  # type: ignore[operator]
            errors["value"] = "The lower bound must not exceed the upper bound."
        else:
            rule.value = [_plain_number(number) for number in numbers]
    elif op in NUMERIC_OPERATORS:
        if _number(value) is None:
            errors["value"] = "Give a number."
        else:
            rule.value = _plain_number(value)
    elif not _scalar(value) or (isinstance(value, str) and not value.strip()):
        errors["value"] = "Give a value to compare with."
    elif isinstance(value, str):
        rule.value = value.strip()
    return errors


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _plain_number(value: Any) -> int | float:
    number = _number(value)
    assert number is not None
    return int(number) if number == number.to_integral_value() else float(number)


def _write_version(*, by: User | None, change: str) -> RescoreJob:
    """Snapshot the active rules as a new version and queue the rescore of every lead.

    Older queued/running jobs are superseded: the new job rescores everything anyway."""
    rules = [Rule.from_row(r).snapshot() for r in ScoringRule.objects.filter(active=True)]
    version = RuleSetVersion.objects.create(created_by=by, change=change[:300], rules=rules)
    RescoreJob.objects.filter(status__in=RescoreJob.ACTIVE).update(
        status=RescoreJob.Status.SUPERSEDED, finished_at=timezone.now()
    )
    job = RescoreJob.objects.create(version=version)
    _plan_batches(job)
    from scoring.tasks import rescore_leads_task

    rescore_leads_task.delay_on_commit(job.pk)
    return job


def _plan_batches(job: RescoreJob) -> None:
    """Cut the current leads into pk ranges of BATCH_SIZE (one id scan, one INSERT). Leads
    created later are scored when they are created."""
    ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    batches = [
        RescoreBatch(
            job=job, first_pk=ids[start], last_pk=ids[min(start + BATCH_SIZE, len(ids)) - 1]
        )
        for start in range(0, len(ids), BATCH_SIZE)
    ]
    RescoreBatch.objects.bulk_create(batches)
    RescoreJob.objects.filter(pk=job.pk).update(total=len(ids))
    job.total = len(ids)


def _audited_fields(rule: ScoringRule, *, defined_only: bool = False) -> dict[str, Any]:
    """What a rule's audit entries show: its definition (the snapshot) and whether it is on.
    `defined_only` leaves out the blank fields of the other category (creates and deletes)."""
    snapshot = Rule.from_row(rule).snapshot()
    snapshot.pop("id")
    fields = snapshot | {"active": rule.active}
    if defined_only:
        return {name: value for name, value in fields.items() if value not in ("", None)}
    return fields


@transaction.atomic
def create_rule(*, by: User | None, **fields: Any) -> ScoringRule:
    """Add a rule; writes a new rule-set version and queues a rescore (same transaction).
    Audited as "scoring_rule.create" with the rule's definition."""
    rule = clean_rule(ScoringRule(**fields))
    rule.save()
    _write_version(by=by, change=f"Added “{rule.name}”")
    record(
        actor=by,
        action="scoring_rule.create",
        target=rule,
        changes=diff({}, _audited_fields(rule, defined_only=True)),
    )
    return rule


@transaction.atomic
def install_rules(*, rules: list[dict[str, Any]], by: User | None, change: str) -> RescoreJob:
    """Add several rules as one version (seeding, imports): all valid or none written.
    Each rule is audited as "scoring_rule.create" (one batched INSERT)."""
    rows = ScoringRule.objects.bulk_create([clean_rule(ScoringRule(**fields)) for fields in rules])
    record_many(
        actor=by,
        action="scoring_rule.create",
        model=ScoringRule,
        ids=[row.pk for row in rows],
        labels={row.pk: str(row) for row in rows},
        changes_for={row.pk: diff({}, _audited_fields(row, defined_only=True)) for row in rows},
    )
    return _write_version(by=by, change=change)


@transaction.atomic
def update_rule(*, rule: ScoringRule, by: User | None, **fields: Any) -> ScoringRule:
    """Change a rule (including enabling/disabling it). A no-op change writes no version."""
    locked = ScoringRule.objects.select_for_update().get(pk=rule.pk)
    before = _audited_fields(locked)
    for name, value in fields.items():
        setattr(locked, name, value)
    clean_rule(locked)
    if _audited_fields(locked) == before:
        return locked
    locked.save()
    record(
        actor=by,
        action="scoring_rule.update",
        target=locked,
        changes=diff(before, _audited_fields(locked)),
    )
    if "active" in fields and set(fields) == {"active"}:
        verb = "Enabled" if locked.active else "Disabled"
    else:
        verb = "Changed"
    _write_version(by=by, change=f"{verb} “{locked.name}”")
    return locked


@transaction.atomic
def delete_rule(*, rule: ScoringRule, by: User | None) -> None:
    """Remove a rule; its name stays in the older versions' snapshots and breakdowns, and its
    definition in the "scoring_rule.delete" audit entry."""
    locked = ScoringRule.objects.select_for_update().filter(pk=rule.pk).first()
    if locked is None:
        return  # deleted meanwhile: nothing changed, nothing to audit
    before = _audited_fields(locked, defined_only=True)
    record(
        actor=by,
        action="scoring_rule.delete",
        target=locked,
        changes=diff(before, dict.fromkeys(before)),
    )
    ScoringRule.objects.filter(pk=locked.pk).delete()
    _write_version(by=by, change=f"Removed “{locked.name}”")


@transaction.atomic
def update_settings(
    *, by: User | None, mql_threshold: int, decay_percent: int, decay_days: int
) -> OrgSettings:
    """Change the MQL threshold and the decay; a changed threshold or decay rescores
    everyone (leads now above a lower threshold become MQL; nobody is demoted). A change is
    audited as "org_settings.update" (field: [old, new])."""
    org = OrgSettings.load()
    names = ("mql_threshold", "engagement_decay_percent", "engagement_decay_days")
    before = {name: getattr(org, name) for name in names}
    org.mql_threshold = mql_threshold
    org.engagement_decay_percent = decay_percent
    org.engagement_decay_days = decay_days
    org.full_clean()
    org.save()
    delta = diff(before, {name: getattr(org, name) for name in names})
    if delta:
        record(actor=by, action="org_settings.update", target=org, changes=delta)
        _write_version(
            by=by,
            change=f"Threshold {mql_threshold}, decay −{decay_percent} % per {decay_days} days",
        )
    return org


# --- scoring leads (set-based) -------------------------------------------------------------

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

    A lead dict carrying its current fit as `_fit` (new events only, see _score_queryset)
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


def _score_queryset(
    queryset: QuerySet[Lead],
    *,
    reason: str,
    now: datetime,
    rule_set: RuleSet | None = None,
    org: OrgSettings | None = None,
    events_only: bool = False,
    skip_locked: bool = False,
) -> tuple[list[int], int]:
    """Lock, score, write and promote the leads of `queryset` (must run in a transaction).
    Returns (the pks scored, how many scores changed). Queries: lock+read, aggregate, UPDATE,
    history INSERT, and the MQL transition only when someone crosses.

    events_only: only new engagement events changed (not the leads' fields): the lock reads
    the narrow score columns and leads already scored under the current rules keep their fit
    (one more read fetches the fields of the others).

    skip_locked: leave out leads another transaction holds (they are not in the returned pks;
    the caller scores them again once its own writes are committed)."""
    rule_set = rule_set or current_rule_set()
    org = org or OrgSettings.load()
    fields = [f for f in LEAD_FIELDS if f not in SCORE_COLUMNS]
    locked = queryset.select_for_update(
        no_key=True, of=("self",), skip_locked=skip_locked
    ).order_by("pk")
    leads = list(
        locked.values(*SCORE_COLUMNS) if events_only else locked.values(*SCORE_COLUMNS, *fields)
    )
    if not leads:
        return [], 0
    if events_only:
        for lead in leads:
            current = lead["score_version"] == rule_set.version
            lead["_fit"] = _stored_fit(lead, rule_set) if current else None
        unscored = {lead["pk"]: lead for lead in leads if lead["_fit"] is None}
        if unscored:
            for row in Lead.objects.filter(pk__any=list(unscored)).values("pk", *fields):
                unscored[row["pk"]].update(row)
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
    insert_rows(
        ScoreHistory,
        {
            "lead_id": [pk for pk, _ in moved],
            "at": [now] * len(moved),
            "score": [score.total for _, score in moved],
            "fit_score": [score.fit for _, score in moved],
            "engagement_score": [score.engagement for _, score in moved],
            "version": [rule_set.version] * len(moved),
            "reason": [reason] * len(moved),
        },
    )
    # MQL once: only leads still `new` that were never MQL before; a drop never demotes.
    crossing = [
        lead["pk"]
        for lead in leads
        if scores[lead["pk"]].total >= org.mql_threshold
        and lead["stage"] == Lead.Lifecycle.NEW
        and lead["mql_at"] is None
    ]
    if crossing:
        from leads.services import transition_leads

        transition_leads(lead_ids=crossing, to=Lead.Lifecycle.MQL, by=None)
    return [lead["pk"] for lead in leads], len(moved)


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
    """Scores for leads about to be inserted (the lead import): `fill` writes the score
    columns into the rows before the INSERT, `record` the history and MQL crossings after it.
    A new lead has no events yet, so only fit rules apply, and the import writes its new leads
    already scored, with no UPDATE after the INSERT. Three queries in all (rules, version,
    settings), plus the writes."""

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

    def record(self, leads: list[tuple[int, dict[str, Any]]]) -> None:
        """(pk, filled row) pairs: history for those starting above zero, and MQL (through the
        lifecycle service, like any crossing) for `new` ones already at the threshold."""
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
        crossing = [
            pk
            for pk, row in scored
            if row["score"] >= self.org.mql_threshold
            and row.get("stage", Lead.Lifecycle.NEW) == Lead.Lifecycle.NEW
        ]
        if crossing:
            from leads.services import transition_leads

            transition_leads(lead_ids=crossing, to=Lead.Lifecycle.MQL, by=None)


@transaction.atomic
def score_leads(*, lead_ids: list[int], reason: str = ScoreHistory.Reason.LEAD) -> None:
    """(Re)compute fit + engagement of these leads set-based (a few queries per 5,000 leads)
    and move those that cross the MQL threshold to MQL through leads.services.transition_leads
    — once: only leads still `new` and never MQL before; a later drop never demotes.
    Called by the lead import and lead edits inside their transaction."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    now, rule_set, org = timezone.now(), current_rule_set(), OrgSettings.load()
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        _score_queryset(
            Lead.objects.filter(pk__any=chunk), reason=reason, now=now, rule_set=rule_set, org=org
        )


def run_rescore_job(*, job_id: int) -> RescoreJob | None:
    """Rescore all leads for a rule change, one claimed batch per transaction.

    Safe to run twice or concurrently: a batch is claimed with SELECT … FOR UPDATE SKIP
    LOCKED and marked done in the transaction that writes its scores, so parallel workers
    split the job and a crashed worker's batch is simply claimed again. A job superseded by
    a newer one stops (the newer one covers every lead)."""
    while True:
        with transaction.atomic():
            job = RescoreJob.objects.filter(pk=job_id).first()
            if job is None or not job.is_active:
                return job
            now = timezone.now()
            if RescoreJob.objects.filter(pk__gt=job.pk).exists():
                RescoreJob.objects.filter(pk=job.pk, status__in=RescoreJob.ACTIVE).update(
                    status=RescoreJob.Status.SUPERSEDED, finished_at=now
                )
                job.refresh_from_db()
                return job
            batch = (
                RescoreBatch.objects.select_for_update(skip_locked=True)
                .filter(job_id=job.pk, done_at__isnull=True)
                .order_by("first_pk")
                .first()
            )
            if batch is None:
                # Nothing left to claim: finished, or the last batches are in other hands
                # (then the worker that finishes them closes the job).
                if not RescoreBatch.objects.filter(job_id=job.pk, done_at__isnull=True).exists():
                    RescoreJob.objects.filter(pk=job.pk, status__in=RescoreJob.ACTIVE).update(
                        status=RescoreJob.Status.DONE, finished_at=now
                    )
                job.refresh_from_db()
                return job
            scored, _ = _score_queryset(
                Lead.objects.filter(pk__gte=batch.first_pk, pk__lte=batch.last_pk),
                reason=ScoreHistory.Reason.RESCORE,
                now=now,
            )
            RescoreBatch.objects.filter(pk=batch.pk).update(done_at=now)
            # Last statement before commit: the job row lock is held only for an instant.
            RescoreJob.objects.filter(pk=job.pk).update(
                done=F("done") + len(scored),
                status=RescoreJob.Status.RUNNING,
                started_at=Coalesce("started_at", Value(now)),
            )


def decay_engagement(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> dict[str, int]:
    """Nightly: rescore every lead that has engaged, so decay (−percent per `days` without
    activity) and rule windows take effect. Fit never decays. The decayed score is a pure
    function of the clock and the last engagement, so a second or concurrent run writes the
    same numbers (and no extra history rows); row locks serialise overlapping batches."""
    from crm.services import job_run

    now = now or timezone.now()
    with job_run("scoring.decay") as counts:
        counts.update(leads=0, changed=0)
        cursor = 0
        rule_set, org = current_rule_set(), OrgSettings.load()
        while True:
            with transaction.atomic():
                ids = list(
                    Lead.objects.filter(pk__gt=cursor, last_engaged_at__isnull=False)
                    .order_by("pk")
                    .values_list("pk", flat=True)[:batch_size]
                )
                if not ids:
                    break
                _, changed = _score_queryset(
                    Lead.objects.filter(pk__any=ids),
                    reason=ScoreHistory.Reason.DECAY,
                    now=now,
                    rule_set=rule_set,
                    org=org,
                )
                counts["leads"] += len(ids)
                counts["changed"] += changed
                cursor = ids[-1]
    return counts
