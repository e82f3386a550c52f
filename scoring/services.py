"""Scoring state changes: rules (each change = a new rule-set version + a rescore job), scoring
leads set-based, ingesting engagement events, rescoring and decay.

Concurrency: every path that writes a score first locks the lead rows (FOR NO KEY UPDATE, pk
order) and only then reads the lead's events, so an event committed meanwhile is never lost
and concurrent batches cannot deadlock. A score is a pure function of (rules, lead, events,
clock), so running any of these twice gives the same result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

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
    score_lead,
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
MAX_EVENTS_PER_REQUEST = 1000
EVENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,49}$")
EDITOR_ROLES = frozenset({User.Role.ADMIN, User.Role.MARKETING})


def can_edit_rules(user: User) -> bool:
    """Marketing owns the scoring model; admins may change it too. Everyone else reads."""
    return user.is_admin or user.role in EDITOR_ROLES


# --- the rule set --------------------------------------------------------------------------


@dataclass
class RuleSet:
    """The rules a scoring pass uses, split by category, and the version they came from."""

    version: int | None
    fit: list[Rule] = field(default_factory=list)
    engagement: list[Rule] = field(default_factory=list)

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
            rule.value = [_plain_number(v) for v in value]
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


@transaction.atomic
def create_rule(*, by: User | None, **fields: Any) -> ScoringRule:
    """Add a rule; writes a new rule-set version and queues a rescore (same transaction)."""
    rule = clean_rule(ScoringRule(**fields))
    rule.save()
    _write_version(by=by, change=f"Added “{rule.name}”")
    return rule


@transaction.atomic
def install_rules(*, rules: list[dict[str, Any]], by: User | None, change: str) -> RescoreJob:
    """Add several rules as one version (seeding, imports): all valid or none written."""
    rows = [clean_rule(ScoringRule(**fields)) for fields in rules]
    ScoringRule.objects.bulk_create(rows)
    return _write_version(by=by, change=change)


@transaction.atomic
def update_rule(*, rule: ScoringRule, by: User | None, **fields: Any) -> ScoringRule:
    """Change a rule (including enabling/disabling it). A no-op change writes no version."""
    locked = ScoringRule.objects.select_for_update().get(pk=rule.pk)
    before = Rule.from_row(locked).snapshot() | {"active": locked.active}
    for name, value in fields.items():
        setattr(locked, name, value)
    clean_rule(locked)
    if Rule.from_row(locked).snapshot() | {"active": locked.active} == before:
        return locked
    locked.save()
    if "active" in fields and set(fields) == {"active"}:
        verb = "Enabled" if locked.active else "Disabled"
    else:
        verb = "Changed"
    _write_version(by=by, change=f"{verb} “{locked.name}”")
    return locked


@transaction.atomic
def delete_rule(*, rule: ScoringRule, by: User | None) -> None:
    """Remove a rule; its name stays in the older versions' snapshots and breakdowns."""
    name = rule.name
    deleted, _ = ScoringRule.objects.filter(pk=rule.pk).delete()
    if deleted:
        _write_version(by=by, change=f"Removed “{name}”")


@transaction.atomic
def update_settings(
    *, by: User | None, mql_threshold: int, decay_percent: int, decay_days: int
) -> OrgSettings:
    """Change the MQL threshold and the decay; a changed threshold or decay rescores
    everyone (leads now above a lower threshold become MQL; nobody is demoted)."""
    org = OrgSettings.load()
    changed = (org.mql_threshold, org.engagement_decay_percent, org.engagement_decay_days) != (
        mql_threshold,
        decay_percent,
        decay_days,
    )
    org.mql_threshold = mql_threshold
    org.engagement_decay_percent = decay_percent
    org.engagement_decay_days = decay_days
    org.full_clean()
    org.save()
    if changed:
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
        aggregates[rule.key] = Count("pk", filter=condition)
    low, high = min(lead_ids), max(lead_ids)
    if high - low < 2 * len(lead_ids):
        # A dense pk range (rescore batches): an index range scan beats a long IN list.
        events = EngagementEvent.objects.filter(lead_id__gte=low, lead_id__lte=high)
    else:
        events = EngagementEvent.objects.filter(lead_id__in=list(lead_ids))
    rows = events.order_by().values("lead_id").annotate(**aggregates)
    wanted = set(lead_ids)
    return {lead_id: row for row in rows if (lead_id := row.pop("lead_id")) in wanted}


def compute_scores(
    *, leads: list[dict[str, Any]], rule_set: RuleSet, now: datetime, org: OrgSettings
) -> dict[int, Score]:
    """Scores for lead dicts (LEAD_FIELDS + pk + last_engaged_at): one aggregate query."""
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
        )
    return scores


def _score_queryset(
    queryset: QuerySet[Lead],
    *,
    reason: str,
    now: datetime,
    rule_set: RuleSet | None = None,
    org: OrgSettings | None = None,
) -> tuple[list[int], int]:
    """Lock, score, write and promote the leads of `queryset` (must run in a transaction).
    Returns (the pks scored, how many scores changed). Queries: lock+read, aggregate, UPDATE, history INSERT, and the
    MQL transition only when someone crosses."""
    rule_set = rule_set or current_rule_set()
    org = org or OrgSettings.load()
    leads = list(
        queryset.select_for_update(no_key=True, of=("self",))
        .order_by("pk")
        .values(*SCORE_COLUMNS, *[f for f in LEAD_FIELDS if f not in SCORE_COLUMNS])
    )
    if not leads:
        return [], 0
    for lead in leads:
        lead["previous_engaged_at"] = lead["last_engaged_at"]
    before = {
        lead["pk"]: (lead["score"], lead["fit_score"], lead["engagement_score"]) for lead in leads
    }
    scores = compute_scores(leads=leads, rule_set=rule_set, now=now, org=org)
    _write_scores(leads=leads, scores=scores, version=rule_set.version, now=now)
    history = [
        ScoreHistory(
            lead_id=lead["pk"],
            at=now,
            score=score.total,
            fit_score=score.fit,
            engagement_score=score.engagement,
            version=rule_set.version,
            reason=reason,
        )
        for lead in leads
        if before[lead["pk"]] != ((score := scores[lead["pk"]]).total, score.fit, score.engagement)
    ]
    if history:
        ScoreHistory.objects.bulk_create(history, batch_size=2000)
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
    return [lead["pk"] for lead in leads], len(history)


def _write_scores(
    *, leads: list[dict[str, Any]], scores: dict[int, Score], version: int | None, now: datetime
) -> None:
    """Rows whose score or breakdown changed: one UPDATE … FROM (VALUES …) on PostgreSQL
    (bulk_update elsewhere). Unchanged rows only get the new version stamp, in one narrow
    UPDATE that touches no indexed column (cheap, HOT-eligible): after a rule change most
    leads usually keep their score."""
    changed, unchanged = [], []
    for lead in leads:
        score = scores[lead["pk"]]
        same = (
            lead["score"] == score.total
            and lead["fit_score"] == score.fit
            and lead["engagement_score"] == score.engagement
            and lead["score_breakdown"] == score.breakdown
            and lead["last_engaged_at"] == lead["previous_engaged_at"]
        )
        (unchanged if same else changed).append(lead)
    if unchanged:
        Lead.objects.filter(pk__in=[lead["pk"] for lead in unchanged]).update(
            score_version=version, scored_at=now
        )
    if not changed:
        return
    if connection.vendor == "postgresql":
        from psycopg2.extras import execute_values

        rows = [
            (
                lead["pk"],
                (s := scores[lead["pk"]]).total,
                s.fit,
                s.engagement,
                json.dumps(s.breakdown, separators=(",", ":")),
                lead.get("last_engaged_at"),
            )
            for lead in changed
        ]
        table = Lead._meta.db_table
        sql = (
            f'UPDATE "{table}" AS l SET score = v.score::int, fit_score = v.fit::int, '
            "engagement_score = v.eng::int, score_breakdown = v.breakdown::jsonb, "
            "score_version = %s, scored_at = %s, last_engaged_at = v.engaged::timestamptz "
            "FROM (VALUES %%s) AS v(id, score, fit, eng, breakdown, engaged) WHERE l.id = v.id"
        )
        with connection.cursor() as cursor:
            raw = cursor.cursor
            prefix = raw.mogrify(sql, (version, now)).decode()
            execute_values(raw, prefix, rows, page_size=len(rows))
        return
    objects = []
    for lead in changed:
        score = scores[lead["pk"]]
        objects.append(
            Lead(
                pk=lead["pk"],
                score=score.total,
                fit_score=score.fit,
                engagement_score=score.engagement,
                score_breakdown=score.breakdown,
                score_version=version,
                scored_at=now,
                last_engaged_at=lead.get("last_engaged_at"),
            )
        )
    Lead.objects.bulk_update(
        objects,
        [
            "score",
            "fit_score",
            "engagement_score",
            "score_breakdown",
            "score_version",
            "scored_at",
            "last_engaged_at",
        ],
        batch_size=500,
    )


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
            Lead.objects.filter(pk__in=chunk), reason=reason, now=now, rule_set=rule_set, org=org
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
                    Lead.objects.filter(pk__in=ids),
                    reason=ScoreHistory.Reason.DECAY,
                    now=now,
                    rule_set=rule_set,
                    org=org,
                )
                counts["leads"] += len(ids)
                counts["changed"] += changed
                cursor = ids[-1]
    return counts


# --- events in -----------------------------------------------------------------------------


@dataclass
class EventOutcome:
    index: int
    status: str = "failed"
    id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "status": self.status, "id": self.id, "errors": self.errors}


@dataclass
class _Parsed:
    outcome: EventOutcome
    external_id: str = ""
    email: str | None = None
    lead_external_id: str | None = None
    type: str = ""
    occurred_at: datetime | None = None
    url: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    create_lead: bool = False
    lead_id: int | None = None


class TooManyEvents(Exception):
    """More than MAX_EVENTS_PER_REQUEST events in one request (the API answers 413)."""


def _parse_event(index: int, item: Any, now: datetime) -> _Parsed:
    parsed = _Parsed(outcome=EventOutcome(index=index))
    errors = parsed.outcome.errors
    if not isinstance(item, dict):
        errors["non_field_errors"] = ["Each event must be a JSON object."]
        return parsed
    external_id = item.get("id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 100:
        errors["id"] = ["Give the event's id (a string of at most 100 characters)."]
    else:
        parsed.external_id = external_id.strip()
    lead = item.get("lead")
    if not isinstance(lead, dict) or not (lead.get("email") or lead.get("external_id")):
        errors["lead"] = ['Identify the lead: {"email": …} or {"external_id": …}.']
    else:
        if isinstance(lead.get("email"), str) and lead["email"].strip():
            parsed.email = lead["email"].strip().lower()
        elif lead.get("email") is not None:
            errors["lead"] = ["lead.email must be a string."]
        if isinstance(lead.get("external_id"), str | int) and str(lead["external_id"]).strip():
            parsed.lead_external_id = str(lead["external_id"]).strip()
        elif lead.get("external_id") is not None:
            errors["lead"] = ["lead.external_id must be a string."]
    event_type = item.get("type")
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.match(event_type.strip().lower()):
        errors["type"] = [
            "Give the event type: lower-case letters, digits, _ . : - (e.g. email_opened)."
        ]
    else:
        parsed.type = event_type.strip().lower()
    occurred = item.get("occurred_at")
    moment = parse_datetime(occurred) if isinstance(occurred, str) else None
    if moment is None:
        errors["occurred_at"] = ["Give occurred_at as an ISO 8601 date-time."]
    else:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.UTC)
        if moment > now + timedelta(minutes=5):
            errors["occurred_at"] = ["occurred_at is in the future."]
        parsed.occurred_at = moment
    properties = item.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        errors["properties"] = ["properties must be an object."]
    else:
        parsed.properties = properties
        url = properties.get("url", "")
        parsed.url = url[:500] if isinstance(url, str) else ""
    parsed.create_lead = item.get("create_lead") is True
    if parsed.create_lead and parsed.email:
        try:
            validate_email(parsed.email)
        except ValidationError:
            errors["lead"] = ["lead.email is not a valid e-mail address."]
    return parsed


@dataclass
class IngestResult:
    outcomes: list[EventOutcome]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.count("created"),
            "duplicate": self.count("duplicate"),
            "failed": self.count("failed"),
            "results": [o.as_dict() for o in self.outcomes],
        }


@transaction.atomic
def ingest_events(*, events: list[Any], user: User) -> IngestResult:
    """Record engagement events and rescore their leads in the same transaction.

    Concurrency: the events are inserted first, then the leads are locked in pk order and
    scored, so a request that scores after another sees both requests' events.

    Idempotent on the sender's id: a known id (or a repeat within the batch) is a
    `duplicate` and changes nothing; the unique constraint settles concurrent replays
    (INSERT … ON CONFLICT DO NOTHING). An unknown lead fails that event only, unless it says
    "create_lead": true (then a `new` lead is created from its e-mail). Set-based: a fixed
    number of queries per request whatever the batch size."""
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise TooManyEvents
    now = timezone.now()
    parsed = [_parse_event(index, item, now) for index, item in enumerate(events)]
    valid = [p for p in parsed if not p.outcome.errors]

    # Replays: ids already stored, or repeated earlier in this batch.
    known = dict(
        EngagementEvent.objects.filter(external_id__in={p.external_id for p in valid}).values_list(
            "external_id", "pk"
        )
    )
    first_seen: dict[str, _Parsed] = {}
    fresh: list[_Parsed] = []
    for p in valid:
        if p.external_id in known:
            p.outcome.status, p.outcome.id = "duplicate", known[p.external_id]
        elif p.external_id in first_seen:
            p.outcome.status = "duplicate"
        else:
            first_seen[p.external_id] = p
            fresh.append(p)

    _resolve_leads(fresh, user=user)
    to_insert = [p for p in fresh if p.lead_id is not None]
    inserted = _insert_events(to_insert, now=now)
    for p in to_insert:
        if p.external_id in inserted:
            p.outcome.status, p.outcome.id = "created", inserted[p.external_id]
        else:  # a concurrent request stored the same id first
            p.outcome.status = "duplicate"
    for p in valid:
        if p.outcome.status == "duplicate" and p.outcome.id is None:
            first = first_seen.get(p.external_id)
            p.outcome.id = first.outcome.id if first else None
    lead_ids = sorted({p.lead_id for p in to_insert if p.external_id in inserted})  # type: ignore[misc]
    if lead_ids:
        # Lock the leads (pk order) only now, after the insert: concurrent requests overlap
        # for everything but the scoring itself, and whoever scores second sees both batches.
        _score_queryset(
            Lead.objects.filter(pk__in=lead_ids), reason=ScoreHistory.Reason.EVENT, now=now
        )
    return IngestResult(outcomes=[p.outcome for p in parsed])


def _resolve_leads(items: list[_Parsed], *, user: User) -> None:
    """Find each event's lead (by e-mail or external id), creating `new` leads for unknown
    e-mails that asked for it. No lock here: scoring locks the leads after the insert."""
    emails = {p.email for p in items if p.email}
    external_ids = {p.lead_external_id for p in items if p.lead_external_id and not p.email}
    creatable = {p.email for p in items if p.create_lead and p.email}

    def lookup() -> tuple[dict[str, int], dict[str, int]]:
        if not emails and not external_ids:
            return {}, {}
        rows = (
            Lead.objects.visible_to(user)
            .filter(Q(email__in=emails) | Q(external_id__in=external_ids))
            .values_list("pk", "email", "external_id")
        )
        by_email, by_external = {}, {}
        for pk, email, external_id in rows:
            by_email[email] = pk
            if external_id:
                by_external[external_id] = pk
        return by_email, by_external

    by_email, by_external = lookup()
    missing = sorted(creatable - set(by_email))
    if missing:
        first = {p.email: p for p in reversed(items) if p.create_lead and p.email in missing}
        Lead.objects.bulk_create(
            [
                Lead(
                    email=email,
                    external_id=(
                        first[email].lead_external_id
                        if first[email].lead_external_id not in by_external
                        else None
                    ),
                    source=Lead.Source.EVENT,
                )
                for email in missing
            ],
            ignore_conflicts=True,
        )
        by_email, by_external = lookup()
    for p in items:
        lead_id = by_email.get(p.email) if p.email else by_external.get(p.lead_external_id or "")
        if lead_id is None:
            who = f"e-mail {p.email}" if p.email else f"external_id {p.lead_external_id}"
            hint = "" if p.create_lead else ' Send "create_lead": true to create it.'
            p.outcome.errors["lead"] = [f"No lead with {who}.{hint}"]
        p.lead_id = lead_id


def _insert_events(items: list[_Parsed], *, now: datetime) -> dict[str, int]:
    """INSERT … ON CONFLICT (external_id) DO NOTHING RETURNING: {external_id: pk} of the rows
    this call actually inserted (works on PostgreSQL and SQLite ≥ 3.35)."""
    if not items:
        return {}
    table = EngagementEvent._meta.db_table
    ops = connection.ops
    received = ops.adapt_datetimefield_value(now)
    inserted: dict[str, int] = {}
    chunk = 1000 if connection.vendor == "postgresql" else 400
    with connection.cursor() as cursor:
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            params: list[Any] = []
            for p in part:
                params += [
                    p.external_id,
                    p.lead_id,
                    p.type,
                    ops.adapt_datetimefield_value(p.occurred_at),
                    p.url,
                    json.dumps(p.properties),
                    received,
                ]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(part))
            cursor.execute(
                f'INSERT INTO "{table}" (external_id, lead_id, type, occurred_at, url, '
                f"properties, received_at) VALUES {values} "
                "ON CONFLICT (external_id) DO NOTHING RETURNING id, external_id",
                params,
            )
            inserted.update({external_id: pk for pk, external_id in cursor.fetchall()})
    return inserted
