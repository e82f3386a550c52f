"""Every fit operator and its edges: missing field, wrong type, case, attributes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scoring.engine import Rule, decay_factor, fit_matches, score_lead


def rule(field, operator, value=None, points=10):
    return Rule(
        key="r1",
        name="r",
        category="fit",
        points=points,
        field=field,
        operator=operator,
        value=value,
    )


LEAD = {
    "email": "Ann@Acme.io",
    "title": "VP Sales",
    "industry": "SaaS",
    "country": "US",
    "employee_count": 30,
    "company": "",
    "attributes": {
        "plan": "pro",
        "seats": "12",
        "tags": ["beta", "vip"],
        "nested": {"tier": "gold"},
        "flag": True,
    },
}


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("country", "equals", "us", True),
        ("country", "equals", "DE", False),
        ("employee_count", "equals", "30", True),
        ("country", "not_equals", "DE", True),
        ("country", "not_equals", "US", False),
        ("company", "not_equals", "Acme", False),  # empty is missing: no match
        ("industry", "in", ["SaaS", "Fintech"], True),
        ("industry", "in", ["Retail"], False),
        ("attributes.tags", "in", ["vip"], True),
        ("title", "contains", "vp", True),
        ("title", "contains", "CEO", False),
        ("attributes.tags", "contains", "beta", True),
        ("employee_count", "contains", "3", False),  # a number does not "contain"
        ("title", "starts_with", "VP", True),
        ("title", "starts_with", "Sales", False),
        ("employee_count", "gte", 30, True),
        ("employee_count", "gte", 31, False),
        ("employee_count", "lte", 30, True),
        ("employee_count", "lte", 29, False),
        ("employee_count", "between", [11, 50], True),
        ("employee_count", "between", [31, 50], False),
        ("attributes.seats", "between", [10, 20], True),  # numeric strings count as numbers
        ("attributes.plan", "gte", 5, False),  # wrong type: no match, no crash
        ("attributes.flag", "gte", 0, False),  # booleans are not numbers
        ("attributes.tags", "between", [1, 2], False),
        ("employee_count", "between", "bad", False),  # a malformed stored value never crashes
        ("title", "is_set", None, True),
        ("company", "is_set", None, False),
        ("company", "is_empty", None, True),
        ("attributes.missing", "is_empty", None, True),
        ("attributes.plan", "is_empty", None, False),
        ("attributes.nested.tier", "equals", "gold", True),
        ("attributes.plan.deeper", "equals", "x", False),  # path through a string
        ("attributes.missing", "equals", "x", False),
        ("attributes.missing", "not_equals", "x", False),
        ("nonexistent_field", "equals", "x", False),
        ("email_domain", "equals", "acme.io", True),
        ("email", "free_email", None, False),
        ("title", "unknown_op", "x", False),
    ],
)
def test_fit_operator(field, operator, value, expected):
    assert fit_matches(rule(field, operator, value), LEAD) is expected


def test_free_mail_domain_matches_gmail_case_insensitively():
    assert fit_matches(rule("email", "free_email"), {"email": "Joe@GMail.com"}) is True
    assert fit_matches(rule("email_domain", "free_email"), {"email": "joe@yahoo.com"}) is True


def test_engagement_cap_and_negative_points_and_breakdown_sums_to_score():
    now = timezone.now()
    opens = Rule(
        key="a",
        name="Opens",
        category="engagement",
        points=2,
        event_type="email_opened",
        max_occurrences=3,
        rule_id=1,
    )
    unsub = Rule(
        key="b",
        name="Unsub",
        category="engagement",
        points=-5,
        event_type="unsubscribed",
        rule_id=2,
    )
    fit = Rule(
        key="c",
        name="US",
        category="fit",
        points=5,
        field="country",
        operator="equals",
        value="US",
        rule_id=3,
    )
    score = score_lead(
        lead={"country": "US", "last_engaged_at": now},
        fit_rules=[fit],
        engagement_rules=[opens, unsub],
        counts={"a": 7, "b": 1},
        now=now,
        decay_percent=25,
        decay_days=30,
    )
    assert (score.fit, score.engagement, score.total) == (5, 1, 6)  # 3×2 − 5
    assert [(line["name"], line["count"], line["points"]) for line in score.breakdown] == [
        ("US", 1, 5),
        ("Opens", 3, 6),
        ("Unsub", 1, -5),
    ]
    assert sum(line["points"] for line in score.breakdown) == score.total


def test_decay_loses_a_quarter_per_full_period_and_fit_never_decays():
    now = timezone.now()
    opens = Rule(
        key="a",
        name="Opens",
        category="engagement",
        points=10,
        event_type="email_opened",
        rule_id=1,
    )
    fit = Rule(
        key="c",
        name="US",
        category="fit",
        points=5,
        field="country",
        operator="equals",
        value="US",
        rule_id=3,
    )
    score = score_lead(
        lead={"country": "US", "last_engaged_at": now - timedelta(days=61)},
        fit_rules=[fit],
        engagement_rules=[opens],
        counts={"a": 4},
        now=now,
        decay_percent=25,
        decay_days=30,
    )
    assert score.fit == 5
    assert score.engagement == round(40 * 0.75**2)  # 22.5 → 22
    assert score.breakdown[-1]["points"] == score.engagement - 40
    assert sum(line["points"] for line in score.breakdown) == score.total


def test_decay_factor_is_one_within_the_first_period():
    now = timezone.now()
    assert decay_factor(last_engaged_at=now - timedelta(days=29), now=now, percent=25, days=30) == (
        1.0,
        0,
    )
    assert decay_factor(last_engaged_at=None, now=now, percent=25, days=30) == (1.0, 0)
