"""The scoring model: rules and their versions, the MQL threshold and the decay.

Every change writes a new rule-set version (a snapshot of the active rules) and queues the
rescore of every lead (`scoring.services.jobs`) in the same transaction, and is audited.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.audit import diff, record, record_many
from crm.models import OrgSettings, User
from scoring.engine import FIELD_CHOICES, NUMERIC_OPERATORS, VALUELESS_OPERATORS, Rule, as_number
from scoring.models import Category, Operator, RescoreJob, RuleSetVersion, ScoringRule
from scoring.services.jobs import queue_rescore

EVENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,49}$")


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
        numbers = [as_number(v) for v in value] if isinstance(value, list) else []
        if len(numbers) != 2 or None in numbers:
            errors["value"] = "Give two numbers: the lower and the upper bound."
        elif numbers[0] > numbers[1]:  # type: ignore[operator]
            errors["value"] = "The lower bound must not exceed the upper bound."
        else:
            rule.value = [_plain_number(number) for number in numbers]
    elif op in NUMERIC_OPERATORS:
        if as_number(value) is None:
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
    number = as_number(value)
    assert number is not None
    return int(number) if number == number.to_integral_value() else float(number)


def write_version(*, by: User | None, change: str) -> RescoreJob:
    """Snapshot the active rules as a new version and queue the rescore of every lead (in the
    caller's transaction: the version and its job commit together)."""
    rules = [Rule.from_row(r).snapshot() for r in ScoringRule.objects.filter(active=True)]
    version = RuleSetVersion.objects.create(created_by=by, change=change[:300], rules=rules)
    return queue_rescore(version=version)


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
    write_version(by=by, change=f"Added “{rule.name}”")
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
    return write_version(by=by, change=change)


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
    write_version(by=by, change=f"{verb} “{locked.name}”")
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
    write_version(by=by, change=f"Removed “{locked.name}”")


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
        write_version(
            by=by,
            change=f"Threshold {mql_threshold}, decay −{decay_percent} % per {decay_days} days",
        )
    return org
