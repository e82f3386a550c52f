"""Scoring factories and helpers."""

from __future__ import annotations

import factory
from django.utils import timezone

from scoring.models import EngagementEvent, ScoringRule
from tests.factories import LeadFactory


class ScoringRuleFactory(factory.django.DjangoModelFactory):
    """A raw rule row (no version, no rescore): use services.create_rule for the real path."""

    class Meta:
        model = ScoringRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    category = "engagement"
    event_type = "email_opened"
    points = 2


class EngagementEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementEvent

    lead = factory.SubFactory(LeadFactory)
    external_id = factory.Sequence(lambda n: f"evt-{n}")
    type = "email_opened"
    occurred_at = factory.LazyFunction(timezone.now)


WORKED_EXAMPLE_RULES = [
    {
        "name": "Contact form",
        "event_type": "form_submitted",
        "url_pattern": "/contact",
        "points": 15,
    },
    {"name": "Welcome e-mail opened", "event_type": "email_opened", "points": 2},
    {"name": "E-mail click", "event_type": "email_clicked", "points": 5},
    {
        "name": "Pricing page visit",
        "event_type": "page_viewed",
        "url_pattern": "/pricing",
        "points": 15,
    },
    {"name": "Blog post read", "event_type": "page_viewed", "url_pattern": "/blog", "points": 2},
    {"name": "Content download", "event_type": "content_downloaded", "points": 10},
    {"name": "Free trial", "event_type": "trial_started", "points": 25},
    {"name": "Unsubscribe", "event_type": "unsubscribed", "points": -5},
]


def worked_example_rules(by=None) -> list[ScoringRule]:
    from scoring.services import create_rule

    return [create_rule(by=by, category="engagement", **rule) for rule in WORKED_EXAMPLE_RULES]


def explained(lead) -> list[dict]:
    """A lead's breakdown as the API and the lead page explain it (the stored lines, named
    after the rules of the version that scored it)."""
    from scoring.engine import expand_breakdown
    from scoring.models import RuleSetVersion

    lead.refresh_from_db()
    version = RuleSetVersion.objects.filter(pk=lead.score_version).first()
    rules = {rule["id"]: rule for rule in (version.rules if version else [])}
    return expand_breakdown(lead.score_breakdown, rules)
