"""Demo data for leads (called by `manage.py seed_demo` after the org exists; idempotent).

~2,000 leads across every stage, source and rep, created over the last ~6 months, each with
the LeadTransition rows its stage implies (believable, increasing timestamps) so funnel
metrics have data; SQL and converted leads carry BANT answers. Plus the disqualify / recycle
reasons.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from crm.models import User
from crm.seed import FIRST, LAST, DemoOrg
from leads.models import Lead, LeadReason, LeadTransition

DEMO_DOMAIN_MARK = "demo"  # every seeded lead's e-mail ends in .demo.example
LEAD_COUNT = 2000

REASONS = {
    LeadReason.Kind.DISQUALIFY: [
        "No budget",
        "Not a decision maker",
        "Competitor",
        "Student or job seeker",
        "Bad contact data",
        "Wrong market",
    ],
    LeadReason.Kind.RECYCLE: [
        "Timing: revisit next quarter",
        "No response",
        "Nurture: early research",
        "Champion left",
    ],
}
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Aperture",
    "Black Mesa",
    "Massive Dynamic",
    "Oscorp",
    "Pied Piper",
    "Dunder Mifflin",
    "Gringotts",
    "Monarch",
    "Nakatomi",
    "Prestige Worldwide",
    "Sterling Cooper",
    "Wernham Hogg",
    "Bluth Company",
    "Los Pollos",
    "Krusty Krab",
    "Planet Express",
    "Virtucon",
    "Zorg",
]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Logistics"]
COUNTRIES = [("Germany", "EMEA"), ("France", "EMEA"), ("UK", "EMEA"), ("USA", "Americas")]
TITLES = ["CTO", "VP Sales", "Head of Marketing", "Ops Manager", "CFO", "Engineer", "Founder"]
PUBLIC = ["gmail.com", "outlook.com", "yahoo.com"]
# Final stage → the path that led there (from "new").
PATHS: dict[str, list[str]] = {
    Lead.Lifecycle.NEW: [],
    Lead.Lifecycle.MQL: ["mql"],
    Lead.Lifecycle.SRL: ["mql", "srl"],
    Lead.Lifecycle.SQL: ["mql", "srl", "sql"],
    Lead.Lifecycle.CONVERTED: ["mql", "srl", "sql", "converted"],
}
GAP_HOURS = {
    "mql": (2, 72),
    "srl": (1, 72),
    "sql": (48, 336),
    "converted": (72, 720),
    "disqualified": (24, 480),
    "recycled": (24, 480),
}
STAGE_WEIGHTS = [
    ("new", 30),
    ("mql", 18),
    ("srl", 14),
    ("sql", 10),
    ("converted", 7),
    ("disqualified", 12),
    ("recycled", 9),
]


def _path(rng: random.Random, stage: str) -> list[str]:
    if stage in PATHS:
        return PATHS[stage]
    if stage == Lead.Lifecycle.DISQUALIFIED:
        return [*rng.choice([[], ["mql"], ["mql", "srl"], ["mql", "srl", "sql"]]), "disqualified"]
    return [*rng.choice([["mql"], ["mql", "srl"]]), "recycled"]


@transaction.atomic
def run(org: DemoOrg) -> dict[str, int]:
    """Create this app's demo rows unless they exist; return counts to print."""
    reasons = 0
    for kind, labels in REASONS.items():
        for order, label in enumerate(labels):
            _, created = LeadReason.objects.get_or_create(
                kind=kind, label=label, defaults={"order": order}
            )
            reasons += created
    rng = random.Random(7)
    reps = org.reps or list(User.objects.filter(role=User.Role.REP))
    marketing = org.users.get("marketing")
    now = timezone.now()
    stages = [s for s, _ in STAGE_WEIGHTS]
    weights = [w for _, w in STAGE_WEIGHTS]
    leads: list[Lead] = []
    plans: list[tuple[datetime, list[str], User | None]] = []
    for n in range(LEAD_COUNT):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.choice(COMPANIES)
        slug = company.lower().replace(" ", "")
        domain = rng.choice(PUBLIC) if rng.random() < 0.12 else f"{slug}.{DEMO_DOMAIN_MARK}.example"
        email = f"{first}.{last}{n}@{domain}".lower()
        stage = rng.choices(stages, weights)[0]
        path = _path(rng, stage)
        owner = (
            rng.choice(reps)
            if reps and (path[:2] == ["mql", "srl"] or rng.random() < 0.3)
            else None
        )
        created_at = now - timedelta(days=rng.uniform(1, 182))
        country, region = rng.choice(COUNTRIES)
        lead = Lead(
            first_name=first,
            last_name=last,
            email=email,
            company=company,
            title=rng.choice(TITLES),
            phone=f"+1 555 {rng.randint(1000, 9999)}",
            industry=rng.choice(INDUSTRIES),
            employee_count=rng.choice([8, 25, 60, 150, 400, 1200, 5000]),
            country=country,
            region=region,
            source=rng.choice(Lead.Source.values),
            campaign=rng.choice(["", "Spring webinar", "Trade fair", "Newsletter", "Ebook"]),
            owner=owner,
            score=rng.randint(0, 40) if stage == "new" else rng.randint(30, 100),
            stage=stage,
            attributes={"plan_interest": rng.choice(["starter", "pro", "enterprise"])},
        )
        if "sql" in path:
            for item in Lead.BANT:
                setattr(lead, f"{item}_confirmed", True)
            lead.budget_note = f"{rng.choice([20, 50, 80, 120])}k approved"
            lead.authority_note = lead.title
            lead.need_note = "Pipeline leaks"
            lead.timeline_note = rng.choice(["This quarter", "Next quarter"])
        leads.append(lead)
        plans.append((created_at, path, owner))
    # The generator is seeded, so a second run produces the same e-mails: seeded already?
    if Lead.objects.filter(email__in=[lead.email for lead in leads[:50]]).exists():
        return {"lead reasons": reasons} if reasons else {}
    Lead.objects.bulk_create(leads, batch_size=500)
    transitions: list[LeadTransition] = []
    for lead, (created_at, path, owner) in zip(leads, plans, strict=True):
        lead.created_at = created_at
        at, previous = created_at, str(Lead.Lifecycle.NEW)
        # Funnel-like gaps (hours to MQL, days to SQL, weeks to close), squeezed to fit
        # between the lead's creation and now.
        gaps = [rng.uniform(*GAP_HOURS[step]) for step in path]
        room = (now - created_at).total_seconds() / 3600 * 0.95
        squeeze = min(1.0, room / sum(gaps)) if gaps else 1.0
        for step, gap in zip(path, gaps, strict=True):
            at += timedelta(hours=gap * squeeze)
            reason = ""
            if step == "disqualified":
                reason = rng.choice(REASONS[LeadReason.Kind.DISQUALIFY])
            elif step == "recycled":
                reason = rng.choice(REASONS[LeadReason.Kind.RECYCLE])
            by = marketing if step == "mql" else owner
            transitions.append(
                LeadTransition(
                    lead=lead, from_stage=previous, to_stage=step, by=by, at=at, reason=reason
                )
            )
            setattr(lead, f"{step}_at", at)
            previous = step
            lead.stage_reason = reason
        lead.updated_at = at
        if owner is not None and lead.mql_at:
            lead.assigned_at = lead.mql_at + timedelta(minutes=rng.uniform(1, 90))
            lead.first_contacted_at = lead.srl_at
    # auto_now_add stamped "now" on insert: write the back-dated timestamps in bulk.
    stamp_fields = ["created_at", "updated_at", "stage_reason", "assigned_at", "first_contacted_at"]
    stamp_fields += [f"{stage}_at" for stage in Lead.Lifecycle.values if stage != "new"]
    Lead.objects.bulk_update(leads, stamp_fields, batch_size=500)
    LeadTransition.objects.bulk_create(transitions, batch_size=1000)
    counts = {"leads": len(leads), "lead transitions": len(transitions)}
    if reasons:
        counts["lead reasons"] = reasons
    return counts
