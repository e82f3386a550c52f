"""Demo data for scoring (called by `manage.py seed_demo` after the org and the leads exist;
idempotent): the issue's worked-example rules plus fit rules, and events for demo leads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from crm.seed import DemoOrg
from leads.models import Lead
from scoring import events as events_in
from scoring import services
from scoring.models import EngagementEvent, ScoringRule

DEMO_RULES: list[dict[str, Any]] = [
    # engagement: the worked example
    {
        "name": "Contact form",
        "category": "engagement",
        "event_type": "form_submitted",
        "url_pattern": "/contact",
        "points": 15,
    },
    {
        "name": "Welcome e-mail opened",
        "category": "engagement",
        "event_type": "email_opened",
        "points": 2,
        "max_occurrences": 10,
    },
    {
        "name": "E-mail click",
        "category": "engagement",
        "event_type": "email_clicked",
        "points": 5,
        "max_occurrences": 10,
    },
    {
        "name": "Pricing page visit",
        "category": "engagement",
        "event_type": "page_viewed",
        "url_pattern": "/pricing",
        "points": 15,
        "window_days": 90,
    },
    {
        "name": "Blog post read",
        "category": "engagement",
        "event_type": "page_viewed",
        "url_pattern": "/blog",
        "points": 2,
        "max_occurrences": 5,
    },
    {
        "name": "Content download",
        "category": "engagement",
        "event_type": "content_downloaded",
        "points": 10,
    },
    {
        "name": "Webinar attended",
        "category": "engagement",
        "event_type": "webinar_attended",
        "points": 12,
    },
    {
        "name": "Free trial",
        "category": "engagement",
        "event_type": "trial_started",
        "points": 25,
        "max_occurrences": 1,
    },
    {"name": "Unsubscribe", "category": "engagement", "event_type": "unsubscribed", "points": -5},
    # fit
    {
        "name": "Target industry",
        "category": "fit",
        "field": "industry",
        "operator": "in",
        "value": ["SaaS", "Fintech"],
        "points": 10,
    },
    {
        "name": "Mid-size company",
        "category": "fit",
        "field": "employee_count",
        "operator": "between",
        "value": [11, 50],
        "points": 8,
    },
    {
        "name": "VP title",
        "category": "fit",
        "field": "title",
        "operator": "contains",
        "value": "VP",
        "points": 12,
    },
    {
        "name": "US based",
        "category": "fit",
        "field": "country",
        "operator": "equals",
        "value": "US",
        "points": 5,
    },
    {
        "name": "Free-mail address",
        "category": "fit",
        "field": "email",
        "operator": "free_email",
        "points": -10,
    },
]

DEMO_JOURNEYS: list[list[tuple[str, str]]] = [
    [("content_downloaded", "")] * 3
    + [("email_opened", "")] * 3
    + [("email_clicked", "")] * 3
    + [("trial_started", "")],
    [("page_viewed", "https://plumb.example/pricing"), ("email_opened", ""), ("email_opened", "")],
    [
        ("form_submitted", "https://plumb.example/contact"),
        ("page_viewed", "https://plumb.example/pricing"),
    ],
    [("page_viewed", "https://plumb.example/blog/pipeline-hygiene"), ("email_opened", "")],
    [("webinar_attended", ""), ("content_downloaded", ""), ("email_clicked", "")],
    [("email_opened", ""), ("unsubscribed", "")],
]


def run(org: DemoOrg) -> dict[str, int]:
    """Create the rule set once (one version) and replay demo events (ids are stable, so a
    second run only reports duplicates); rescore every lead synchronously."""
    marketing = org.users.get("marketing")
    rules = 0
    if not ScoringRule.objects.exists():
        job = services.install_rules(rules=DEMO_RULES, by=marketing, change="Demo rule set")
        services.run_rescore_job(job_id=job.pk)
        rules = len(DEMO_RULES)
    before = EngagementEvent.objects.count()
    leads = list(Lead.objects.order_by("pk").values_list("pk", "email")[:60])
    now = timezone.now()
    events = []
    for index, (pk, email) in enumerate(leads):
        journey = DEMO_JOURNEYS[index % len(DEMO_JOURNEYS)]
        for n, (event_type, url) in enumerate(journey):
            events.append(
                {
                    "id": f"demo-{pk}-{n}",
                    "lead": {"email": email},
                    "type": event_type,
                    "occurred_at": (
                        now - timedelta(days=org.rng.randint(1, 75), hours=n)
                    ).isoformat(),
                    "properties": {"url": url, "campaign": "welcome"}
                    if url
                    else {"campaign": "welcome"},
                }
            )
    if events and marketing is not None:
        for start in range(0, len(events), events_in.MAX_EVENTS_PER_REQUEST):
            events_in.ingest_events(
                events=events[start : start + events_in.MAX_EVENTS_PER_REQUEST], user=marketing
            )
    return {"scoring rules": rules, "engagement events": EngagementEvent.objects.count() - before}
