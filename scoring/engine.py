"""Pure rule evaluation: no queries, no writes. `services` feeds it rows and event counts.

A rule never raises: a missing field or a value of the wrong type simply does not match.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from scoring.models import Category, Operator

# Lead columns a fit rule may test (plus `email_domain` and `attributes.<key>`).
LEAD_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company",
    "employee_count",
    "industry",
    "country",
    "region",
    "source",
    "campaign",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "external_id",
    "attributes",
)
DERIVED_FIELDS: tuple[str, ...] = ("email_domain",)
FIELD_CHOICES: tuple[str, ...] = tuple(f for f in LEAD_FIELDS if f != "attributes") + DERIVED_FIELDS

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "hotmail.com",
        "hotmail.co.uk",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "zoho.com",
        "qq.com",
        "163.com",
        "fastmail.com",
    }
)

NUMERIC_OPERATORS = frozenset({Operator.GTE, Operator.LTE, Operator.BETWEEN})
VALUELESS_OPERATORS = frozenset({Operator.IS_SET, Operator.IS_EMPTY, Operator.FREE_EMAIL})


@dataclass(frozen=True)
class Rule:
    """What the engine needs of a rule (from a row, a version snapshot or an unsaved edit)."""

    key: str
    name: str
    category: str
    points: int
    field: str = ""
    operator: str = ""
    value: Any = None
    event_type: str = ""
    url_pattern: str = ""
    max_occurrences: int | None = None
    window_days: int | None = None
    rule_id: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> Rule:
        return cls(
            key=f"r{row.pk}" if row.pk else f"new{id(row)}",
            rule_id=row.pk,
            name=row.name,
            category=row.category,
            points=row.points,
            field=row.field,
            operator=row.operator,
            value=row.value,
            event_type=row.event_type,
            url_pattern=row.url_pattern,
            max_occurrences=row.max_occurrences,
            window_days=row.window_days,
        )

    @cached_property
    def matcher(self) -> Callable[[dict[str, Any]], bool]:
        return _compile(self)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "name": self.name,
            "category": self.category,
            "points": self.points,
            "field": self.field,
            "operator": self.operator,
            "value": self.value,
            "event_type": self.event_type,
            "url_pattern": self.url_pattern,
            "max_occurrences": self.max_occurrences,
            "window_days": self.window_days,
        }


@dataclass
class Score:
    fit: int = 0
    engagement: int = 0
    breakdown: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.fit + self.engagement


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def as_number(value: Any) -> Decimal | None:
    """A number from an int/float/Decimal or a numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else Decimal(str(value))
    if isinstance(value, str):
        text = value.strip()
        # Cheap pre-check: raising InvalidOperation for every word is slow in bulk rescoring.
        if (
            not text
            or text[0] not in "0123456789+-."
            or (not text[-1].isdigit() and text[-1] != ".")
        ):
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _text(value: Any) -> str | None:
    """Comparable text (case-insensitive); numbers compare by their text too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, int | float | Decimal):
        return str(value).casefold()
    return None


def field_value(lead: dict[str, Any], name: str) -> Any:
    """A lead's value for `name`: a column, `email_domain`, or `attributes.<key>` (nested keys
    with dots). Missing → None."""
    if name == "email_domain":
        email = lead.get("email") or ""
        return email.rpartition("@")[2].lower() if "@" in email else None
    if name.startswith("attributes."):
        value: Any = lead.get("attributes") or {}
        for part in name.split(".")[1:]:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value
    return lead.get(name)


def _equals(actual: Any, expected: Any) -> bool:
    left, right = as_number(actual), as_number(expected)
    if left is not None and right is not None:
        return left == right
    left_text, right_text = _text(actual), _text(expected)
    return left_text is not None and left_text == right_text


def fit_matches(rule: Rule, lead: dict[str, Any]) -> bool:
    """Whether a fit rule matches a lead (a dict of its LEAD_FIELDS). Never raises."""
    return rule.matcher(lead)


def _compile(rule: Rule) -> Callable[[dict[str, Any]], bool]:
    """A fast predicate for the common shapes (a plain column compared with a text or a
    number); everything else goes through the general `_fit_matches`."""
    name, op, expected = rule.field, rule.operator, rule.value
    plain = name in LEAD_FIELDS and name != "attributes"
    if plain and op in (Operator.EQUALS, Operator.IN) and expected is not None:
        options = expected if isinstance(expected, list) else [expected]
        if all(isinstance(o, str) and as_number(o) is None for o in options):
            texts = frozenset(o.strip().casefold() for o in options)

            def text_in(lead: dict[str, Any]) -> bool:
                actual = lead.get(name)
                return isinstance(actual, str) and actual.strip().casefold() in texts

            return text_in
    if plain and op in NUMERIC_OPERATORS:
        bounds = expected if op == Operator.BETWEEN else [expected]
        if not isinstance(bounds, list | tuple):
            return lambda lead: False
        numbers = [as_number(b) for b in bounds]
        if None in numbers or (op == Operator.BETWEEN and len(numbers) != 2):
            return lambda lead: False
        low = numbers[0] if op in (Operator.GTE, Operator.BETWEEN) else None
        high = numbers[-1] if op in (Operator.LTE, Operator.BETWEEN) else None

        def in_range(lead: dict[str, Any]) -> bool:
            actual = lead.get(name)
            if isinstance(actual, int) and not isinstance(actual, bool):
                number: Any = actual
            else:
                number = as_number(actual)
                if number is None:
                    return False
            return (low is None or number >= low) and (high is None or number <= high)

        return in_range
    if plain and op in (Operator.IS_SET, Operator.IS_EMPTY):
        want_set = op == Operator.IS_SET

        def presence(lead: dict[str, Any]) -> bool:
            return _missing(lead.get(name)) is not want_set

        return presence
    if plain and op in (Operator.CONTAINS, Operator.STARTS_WITH, Operator.NOT_EQUALS):
        needle = _text(expected)
        if needle is not None and as_number(expected) is None:
            starts = op == Operator.STARTS_WITH

            def text_test(lead: dict[str, Any]) -> bool:
                actual = lead.get(name)
                if not isinstance(actual, str) or not actual:
                    return False
                text = actual.strip().casefold() if op == Operator.NOT_EQUALS else actual.casefold()
                if op == Operator.NOT_EQUALS:
                    return text != needle
                return text.startswith(needle) if starts else needle in text

            return text_test
    if plain and op == Operator.FREE_EMAIL:

        def free_mail(lead: dict[str, Any]) -> bool:
            actual = lead.get(name)
            return (
                isinstance(actual, str)
                and actual.rpartition("@")[2].casefold() in FREE_MAIL_DOMAINS
            )

        return free_mail
    return lambda lead: _fit_matches(rule, lead)


def _fit_matches(rule: Rule, lead: dict[str, Any]) -> bool:
    actual = field_value(lead, rule.field)
    op, expected = rule.operator, rule.value
    if op == Operator.IS_SET:
        return not _missing(actual)
    if op == Operator.IS_EMPTY:
        return _missing(actual)
    if _missing(actual):
        return False
    if op == Operator.FREE_EMAIL:
        text = _text(actual)
        return text is not None and text.rpartition("@")[2] in FREE_MAIL_DOMAINS
    if op == Operator.EQUALS:
        return _equals(actual, expected)
    if op == Operator.NOT_EQUALS:
        return _text(actual) is not None and not _equals(actual, expected)
    if op == Operator.IN:
        options = expected if isinstance(expected, list) else [expected]
        if isinstance(actual, list):
            return any(_equals(item, option) for item in actual for option in options)
        return any(_equals(actual, option) for option in options)
    if op in (Operator.CONTAINS, Operator.STARTS_WITH):
        needle = _text(expected)
        if needle is None:
            return False
        if isinstance(actual, list):  # a tag list contains a tag
            return any(_text(item) == needle for item in actual)
        if not isinstance(actual, str):
            return False
        text = actual.casefold()
        return needle in text if op == Operator.CONTAINS else text.startswith(needle)
    if op in NUMERIC_OPERATORS:
        number = as_number(actual)
        if number is None:
            return False
        if op == Operator.BETWEEN:
            if not isinstance(expected, list | tuple) or len(expected) != 2:
                return False
            low, high = as_number(expected[0]), as_number(expected[1])
            return low is not None and high is not None and low <= number <= high
        bound = as_number(expected)
        if bound is None:
            return False
        return number >= bound if op == Operator.GTE else number <= bound
    return False


def decay_factor(
    *, last_engaged_at: datetime | None, now: datetime, percent: int, days: int
) -> tuple[float, int]:
    """(multiplier, periods): engagement loses `percent` % per full `days` without activity.

    A pure function of the clock and the last engagement, so decaying twice is harmless.
    """
    if last_engaged_at is None or percent <= 0 or days <= 0:
        return 1.0, 0
    periods = max(0, int((now - last_engaged_at).total_seconds() // (days * 86400)))
    return (1 - percent / 100) ** periods, periods


def score_lead(
    *,
    lead: dict[str, Any],
    fit_rules: list[Rule],
    engagement_rules: list[Rule],
    counts: dict[str, int],
    now: datetime,
    decay_percent: int,
    decay_days: int,
    fit: tuple[int, list[dict[str, Any]]] | None = None,
) -> Score:
    """Score one lead: fit rules on its fields, engagement rules on its event counts (already
    windowed by the query), capped per rule, then decayed. The breakdown lists every rule that
    contributed (rule id, name, count, points) and sums exactly to the score.

    `fit`: the lead's fit points and breakdown lines, already known (its fields and the rules
    are unchanged since it was last scored), so only engagement is computed."""
    score = Score()
    if fit is not None:
        score.fit, score.breakdown = fit[0], list(fit[1])
    else:
        for rule in fit_rules:
            if rule.matcher(lead):
                score.fit += rule.points
                score.breakdown.append(fit_line(rule))
    raw = 0
    for rule in engagement_rules:
        count = counts.get(rule.key, 0)
        if rule.max_occurrences is not None:
            count = min(count, rule.max_occurrences)
        if count:
            points = count * rule.points
            raw += points
            score.breakdown.append(_line(rule, count, points))
    factor, periods = decay_factor(
        last_engaged_at=lead.get("last_engaged_at"),
        now=now,
        percent=decay_percent,
        days=decay_days,
    )
    score.engagement = round(raw * factor)
    if score.engagement != raw:
        score.breakdown.append(
            _decay_line(periods, score.engagement - raw, decay_percent, decay_days)
        )
    return score


def _decay_line(periods: int, points: int, percent: int, days: int) -> dict[str, Any]:
    return {
        "rule": None,
        "name": f"Decay: −{percent} % × {periods} (no activity for {periods * days}+ days)",
        "category": Category.ENGAGEMENT,
        "count": periods,
        "points": points,
        "percent": percent,
        "days": days,
    }


# The breakdown as stored on the lead: one short array per line, [rule id, count, points]
# (the decay line: [None, periods, points, percent, days]). Names and categories come from
# the rule-set version that scored the lead, so a lead row stays narrow (scoring rewrites it
# on every event batch) while the explanation stays exact even after a rule is renamed.


def stored_breakdown(breakdown: list[dict[str, Any]]) -> list[list[Any]]:
    stored: list[list[Any]] = []
    for line in breakdown:
        if line["rule"] is None:
            stored.append([None, line["count"], line["points"], line["percent"], line["days"]])
        else:
            stored.append([line["rule"], line["count"], line["points"]])
    return stored


def expand_breakdown(stored: list[Any], rules: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored lines with names and categories again; `rules`: {rule id: snapshot} of the
    version that scored the lead (RuleSetVersion.rules, or the current rules)."""
    lines = []
    for line in stored or []:
        if isinstance(line, dict):  # written before the compact form
            lines.append(line)
        elif line[0] is None:
            lines.append(_decay_line(line[1], line[2], line[3], line[4]))
        else:
            rule = rules.get(line[0], {})
            lines.append(
                {
                    "rule": line[0],
                    "name": rule.get("name", f"Rule #{line[0]} (deleted)"),
                    "category": rule.get("category", Category.ENGAGEMENT),
                    "count": line[1],
                    "points": line[2],
                }
            )
    return lines


def fit_line(rule: Rule) -> dict[str, Any]:
    return _line(rule, 1, rule.points)


def _line(rule: Rule, count: int, points: int) -> dict[str, Any]:
    return {
        "rule": rule.rule_id,
        "name": rule.name,
        "category": rule.category,
        "count": count,
        "points": points,
    }
