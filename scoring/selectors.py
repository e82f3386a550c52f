"""Scoring reads shared by pages, API and tasks: the lead's score panel, rules, progress,
the MQL preview and the backtest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from crm.models import AuditLog, OrgSettings, User
from leads.models import Lead
from pipeline.models import Opportunity, Stage
from scoring.engine import LEAD_FIELDS, Rule, expand_breakdown
from scoring.models import RescoreJob, RuleSetVersion, ScoreHistory, ScoringRule
from scoring.services import BATCH_SIZE, RuleSet, compute_scores, current_rule_set

SPARK_WIDTH, SPARK_HEIGHT, HISTORY_POINTS = 160, 36, 30

# The organisation settings that belong to the scoring model (the others: SLA, fiscal year …).
SCORING_SETTINGS = {
    "mql_threshold": "MQL threshold",
    "engagement_decay_percent": "decay %",
    "engagement_decay_days": "decay period (days)",
}
CHANGE_VERBS = {
    "scoring_rule.create": "added the rule",
    "scoring_rule.update": "changed the rule",
    "scoring_rule.delete": "removed the rule",
    "org_settings.update": "changed threshold and decay",
}
# A rule's fields in the order people read a rule (jsonb keeps keys in its own order).
RULE_FIELD_ORDER = (
    "name", "category", "field", "operator", "value", "event_type", "url_pattern",
    "points", "max_occurrences", "window_days", "active",
)  # fmt: skip
RULE_FIELD_LABELS = {
    "max_occurrences": "cap",
    "window_days": "window (days)",
    "url_pattern": "URL contains",
    "event_type": "event type",
}


@dataclass(frozen=True)
class ScoringChange:
    """One change to the scoring model, as the settings page lists it."""

    at: datetime
    actor: User | None
    verb: str
    subject: str  # the rule as it was named then; empty for threshold and decay
    lines: list[tuple[str, str]]  # (field, "old → new"), or (field, value) for a definition
    is_definition: bool = False  # added or removed: the rule as it was, shown on one line


def _in_rule_order(items: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    rank = {name: n for n, name in enumerate(RULE_FIELD_ORDER)}
    return sorted(items, key=lambda item: rank.get(item[0], len(rank)))


def _shown(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def scoring_changes(*, limit: int = 20) -> list[ScoringChange]:
    """The latest changes to the scoring model, newest first: rules added, changed, enabled,
    disabled or removed, and threshold or decay changes, each with who and what (old → new),
    read from the audit trail. One query."""
    entries = (
        AuditLog.objects.filter(
            Q(action__startswith="scoring_rule.")
            | Q(action="org_settings.update", changes__has_any_keys=list(SCORING_SETTINGS))
        )
        .select_related("actor")
        .order_by("-at", "-pk")[:limit]
    )
    changes = []
    for entry in entries:
        is_definition = entry.action in ("scoring_rule.create", "scoring_rule.delete")
        if entry.action == "org_settings.update":
            lines = [
                (SCORING_SETTINGS[f], text)
                for f, text in entry.change_lines()
                if f in SCORING_SETTINGS
            ]
        elif is_definition:  # added or removed: the definition it had, not "∅ → …" per field
            side = 1 if entry.action == "scoring_rule.create" else 0
            lines = [
                (
                    RULE_FIELD_LABELS.get(f, f),
                    _shown(change[side] if isinstance(change, list) else change),
                )
                for f, change in _in_rule_order((entry.changes or {}).items())
                if f != "name"  # the subject already names it
            ]
        else:
            lines = [
                (RULE_FIELD_LABELS.get(f, f), text)
                for f, text in _in_rule_order(entry.change_lines())
            ]
        subject = "" if entry.action == "org_settings.update" else entry.target_label
        verb = CHANGE_VERBS.get(entry.action, entry.action)
        changes.append(ScoringChange(entry.at, entry.actor, verb, subject, lines, is_definition))
    return changes


def rule_list() -> QuerySet[ScoringRule]:
    """Every rule (active first within each category). Rules are org-wide: all roles read."""
    return ScoringRule.objects.order_by("category", "-active", "pk")


def latest_rescore_job() -> RescoreJob | None:
    return RescoreJob.objects.select_related("version").order_by("-pk").first()


def latest_version() -> RuleSetVersion | None:
    return RuleSetVersion.objects.order_by("-pk").first()


def lead_score_panel(*, lead: Lead) -> dict[str, Any]:
    """What the lead page's score panel (templates/scoring/_lead_score.html) needs: score,
    fit/engagement, the breakdown lines (rule, count, points), the version that scored the
    lead and a server-drawn sparkline of the last 30 score changes. Two queries."""
    history = list(
        ScoreHistory.objects.filter(lead_id=lead.pk)
        .order_by("-at", "-pk")
        .values("at", "score")[:HISTORY_POINTS]
    )[::-1]
    version = None
    if lead.score_version:
        version = (
            RuleSetVersion.objects.filter(pk=lead.score_version)
            .values("pk", "created_at", "change", "rules")
            .first()
        )
    breakdown = sorted(
        expand_breakdown(lead.score_breakdown, _rules_by_id(version)),
        key=lambda line: (line.get("category") != "fit", -abs(line.get("points", 0))),
    )
    return {
        "score": lead.score,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "breakdown": breakdown,
        "version": version,
        "scored_at": lead.scored_at,
        "last_engaged_at": lead.last_engaged_at,
        "history": history,
        "sparkline": sparkline([row["score"] for row in history]),
        "threshold": OrgSettings.load().mql_threshold,
    }


def sparkline(values: list[int]) -> dict[str, Any] | None:
    """SVG polyline points for a list of scores (None with fewer than two points)."""
    if len(values) < 2:
        return None
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = SPARK_WIDTH / (len(values) - 1)
    points = " ".join(
        f"{round(i * step, 1)},{round(SPARK_HEIGHT - 2 - (v - low) / span * (SPARK_HEIGHT - 4), 1)}"
        for i, v in enumerate(values)
    )
    return {
        "points": points,
        "width": SPARK_WIDTH,
        "height": SPARK_HEIGHT,
        "low": low,
        "high": high,
    }


def _rules_by_id(version: Mapping[str, Any] | None) -> dict[int, dict[str, Any]]:
    return {rule["id"]: rule for rule in (version or {}).get("rules") or [] if rule.get("id")}


def lead_score(*, user: User, lead_id: int) -> Lead | None:
    """A lead's score fields, only if the user may see the lead (None → 404), with
    `breakdown`: the stored lines named after the rules of the version that scored it."""
    lead = (
        Lead.objects.visible_to(user)
        .only(
            "pk",
            "score",
            "fit_score",
            "engagement_score",
            "score_breakdown",
            "score_version",
            "scored_at",
            "last_engaged_at",
            "stage",
            "mql_at",
        )
        .filter(pk=lead_id)
        .first()
    )
    if lead is not None:
        version = (
            RuleSetVersion.objects.filter(pk=lead.score_version).values("rules").first()
            if lead.score_version
            else None
        )
        # Read by LeadScoreSerializer beside the stored columns (not a model field).
        lead.breakdown = expand_breakdown(lead.score_breakdown, _rules_by_id(version))  # type: ignore[attr-defined]
    return lead


def _lead_batches(
    queryset: QuerySet[Lead], extra: Iterable[str] = ()
) -> Iterable[list[dict[str, Any]]]:
    cursor = 0
    fields = ["pk", "last_engaged_at", *LEAD_FIELDS, *extra]
    while True:
        rows = list(queryset.filter(pk__gt=cursor).order_by("pk").values(*fields)[:BATCH_SIZE])
        if not rows:
            return
        yield rows
        cursor = rows[-1]["pk"]


def preview_mql(*, rules: list[Rule], threshold: int) -> dict[str, int]:
    """How many current leads would score ≥ threshold with `rules` (nothing is saved), next
    to how many do now. Reads in batches of 5,000 leads (two queries each)."""
    org = OrgSettings.load()
    now = timezone.now()
    rule_set = RuleSet.of(rules, version=None)
    total = would = 0
    for rows in _lead_batches(Lead.objects.all()):
        scores = compute_scores(leads=rows, rule_set=rule_set, now=now, org=org)
        total += len(rows)
        would += sum(1 for s in scores.values() if s.total >= threshold)
    current = Lead.objects.filter(score__gte=threshold).count()
    return {"total": total, "would_be_mql": would, "currently_mql": current, "threshold": threshold}


THRESHOLDS = tuple(range(30, 100, 10))


def backtest(*, start: date, end: date) -> dict[str, Any]:
    """How well the current rules separate leads that converted, among leads created in
    [start, end]: per rule, the SQL and won rate of matching vs non-matching leads; for the
    whole model, at thresholds 30…90, how many leads would be MQL and what share reached SQL.
    Read-only; batches of 5,000 leads."""
    tz = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    won = Opportunity.objects.filter(lead_id=OuterRef("pk"), stage__kind=Stage.Kind.WON)
    queryset = Lead.objects.filter(created_at__gte=since, created_at__lt=until).annotate(
        is_won=Exists(won)
    )
    rule_set = current_rule_set()
    rules = rule_set.fit + rule_set.engagement
    org, now = OrgSettings.load(), timezone.now()
    # per rule: [matching, matching_sql, matching_won, other, other_sql, other_won]
    tallies = {rule.rule_id: [0] * 6 for rule in rules}
    levels = {t: [0, 0] for t in THRESHOLDS}
    leads = reached = won_total = 0
    for rows in _lead_batches(queryset, extra=("sql_at", "converted_at", "is_won")):
        scores = compute_scores(leads=rows, rule_set=rule_set, now=now, org=org)
        for row in rows:
            score = scores[row["pk"]]
            is_sql = bool(row["sql_at"] or row["converted_at"])
            is_won = bool(row["is_won"])
            leads += 1
            reached += is_sql
            won_total += is_won
            matched = {line["rule"] for line in score.breakdown}
            for rule in rules:
                tally = tallies[rule.rule_id]
                offset = 0 if rule.rule_id in matched else 3
                tally[offset] += 1
                tally[offset + 1] += is_sql
                tally[offset + 2] += is_won
            for t in THRESHOLDS:
                if score.total >= t:
                    levels[t][0] += 1
                    levels[t][1] += is_sql
    return {
        "start": start,
        "end": end,
        "leads": leads,
        "reached_sql": reached,
        "won": won_total,
        "rules": [
            {
                "rule": rule,
                "matching": t[0],
                "matching_sql_rate": _rate(t[1], t[0]),
                "matching_won_rate": _rate(t[2], t[0]),
                "other": t[3],
                "other_sql_rate": _rate(t[4], t[3]),
                "other_won_rate": _rate(t[5], t[3]),
            }
            for rule in rules
            for t in [tallies[rule.rule_id]]
        ],
        "thresholds": [
            {
                "threshold": t,
                "mqls": levels[t][0],
                "reached_sql": levels[t][1],
                "share": _rate(levels[t][1], levels[t][0]),
                "is_current": t == org.mql_threshold,
            }
            for t in THRESHOLDS
        ],
    }


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None
