"""Demo data for pipeline (called by `manage.py seed_demo` after the org exists; idempotent).

Two pipelines, lost reasons, ~150 accounts, ~600 deals over the 12 reps: open deals across
the stages, and won/lost deals over the last four quarters with a believable StageChange
history (so forecasting and metrics have data), plus activities and some overdue tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from activities.models import Activity
from crm.models import User
from crm.seed import DemoOrg
from pipeline.models import ForecastCategory, LostReason, Opportunity, Pipeline, Stage, StageChange

DEFAULT_STAGES = [
    # name, probability, kind, forecast category, rot_after_days, WIP limit
    ("Prospecting", 10, Stage.Kind.OPEN, ForecastCategory.PIPELINE, 14, None),
    ("Qualification", 20, Stage.Kind.OPEN, ForecastCategory.PIPELINE, 14, None),
    ("Meeting/Demo", 40, Stage.Kind.OPEN, ForecastCategory.PIPELINE, 21, None),
    ("Proposal", 60, Stage.Kind.OPEN, ForecastCategory.BEST_CASE, 21, 80),
    ("Negotiation", 80, Stage.Kind.OPEN, ForecastCategory.COMMIT, 30, None),
    ("Closed Won", 100, Stage.Kind.WON, ForecastCategory.CLOSED, 0, None),
    ("Closed Lost", 0, Stage.Kind.LOST, ForecastCategory.OMITTED, 0, None),
]
EXPANSION_STAGES = [
    ("Discovery", 20, Stage.Kind.OPEN, ForecastCategory.PIPELINE, 21, None),
    ("Proposal", 60, Stage.Kind.OPEN, ForecastCategory.BEST_CASE, 21, None),
    ("Contract", 85, Stage.Kind.OPEN, ForecastCategory.COMMIT, 30, None),
    ("Closed Won", 100, Stage.Kind.WON, ForecastCategory.CLOSED, 0, None),
    ("Closed Lost", 0, Stage.Kind.LOST, ForecastCategory.OMITTED, 0, None),
]
LOST_REASONS = [
    "Price",
    "Lost to competitor",
    "No budget",
    "No decision / went dark",
    "Timing",
    "Missing feature",
]
WORDS = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay",
    "Soylent", "Cyberdyne", "Tyrell", "Gringotts", "Oscorp", "Aperture", "Massive", "Nimbus",
    "Blue Sun", "Monarch", "Pied Piper", "Dunder", "Sterling", "Prestige", "Kramerica",
    "Bluth", "Nakatomi", "Zorg", "Octan", "Virtucon", "Duff",
]  # fmt: skip
SUFFIXES = ["Ltd", "GmbH", "Inc", "Group", "Labs"]
INDUSTRIES = ["Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Logistics"]
PRODUCTS = ["Platform", "Analytics", "Support plan", "Seats", "Integration", "Pilot", "Rollout"]
NEXT_STEPS = ["Send proposal", "Book demo", "Call CFO", "Security review", "Legal redlines", ""]


def _stages(pipeline: Pipeline, specs: list[tuple]) -> list[Stage]:
    return Stage.objects.bulk_create(
        Stage(
            pipeline=pipeline,
            name=name,
            order=order,
            probability=probability,
            kind=kind,
            forecast_category=category,
            rot_after_days=rot,
            wip_limit=wip,
        )
        for order, (name, probability, kind, category, rot, wip) in enumerate(specs)
    )


def _accounts(org: DemoOrg, reps: list[User], want: int = 150) -> list[Account]:
    existing = list(Account.objects.order_by("pk"))
    rng = org.rng
    rows = []
    for index in range(len(existing), want):
        name = f"{WORDS[index % len(WORDS)]} {SUFFIXES[index // len(WORDS) % len(SUFFIXES)]}"
        rows.append(
            Account(
                name=name,
                domain=f"{name.lower().replace(' ', '-').replace('/', '')}.example",
                industry=rng.choice(INDUSTRIES),
                employee_count=rng.choice([20, 80, 250, 1200, 5000]),
                country=rng.choice(["Germany", "France", "UK", "USA", "Canada", "Brazil"]),
                is_customer=rng.random() < 0.3,
                owner=rng.choice(reps),
            )
        )
    return existing + Account.objects.bulk_create(rows)


@transaction.atomic
def run(org: DemoOrg) -> dict[str, int]:
    """Create this app's demo rows unless the default pipeline exists; return counts to print."""
    if Pipeline.objects.filter(is_default=True).exists():
        return {}
    rng = org.rng
    now = timezone.now()
    reps = org.reps or list(User.objects.filter(role=User.Role.REP))
    if not reps:
        return {}
    sales = Pipeline.objects.create(name="Sales", is_default=True, order=1)
    expansion = Pipeline.objects.create(name="Expansion", order=2)
    pipelines = {
        sales.pk: _stages(sales, DEFAULT_STAGES),
        expansion.pk: _stages(expansion, EXPANSION_STAGES),
    }
    reasons = LostReason.objects.bulk_create(
        LostReason(label=label, order=index) for index, label in enumerate(LOST_REASONS)
    )
    accounts = _accounts(org, reps)

    deals: list[Opportunity] = []
    paths: list[tuple[list[Stage], list[datetime]]] = []
    for index in range(600):
        customer_deal = index % 5 == 0
        candidates = [a for a in accounts if a.is_customer] if customer_deal else accounts
        account = rng.choice(candidates or accounts)
        pipeline = expansion if customer_deal and index % 10 == 0 else sales
        stages = pipelines[pipeline.pk]
        open_stages = [s for s in stages if s.is_open]
        won = next(s for s in stages if s.kind == Stage.Kind.WON)
        lost = next(s for s in stages if s.kind == Stage.Kind.LOST)
        owner = account.owner if account.owner and rng.random() < 0.7 else rng.choice(reps)
        is_open = index % 2 == 0
        if is_open:
            depth = rng.choices(
                range(len(open_stages)), weights=[30, 25, 20, 15, 10][: len(open_stages)]
            )[0]
            route = open_stages[: depth + 1]
            created = now - timedelta(days=rng.randint(3, 120), hours=rng.randint(0, 23))
            end = now - timedelta(hours=rng.randint(1, 24 * 20))
            end = max(end, created + timedelta(hours=len(route)))
            close_date = (now + timedelta(days=rng.randint(-10, 150))).date()
        else:
            closed_at = now - timedelta(days=rng.randint(1, 360), hours=rng.randint(0, 23))
            created = closed_at - timedelta(days=rng.randint(20, 150))
            is_won = rng.random() < 0.4
            reach = rng.randint(2 if is_won else 0, len(open_stages) - 1)
            route = [*open_stages[: reach + 1], won if is_won else lost]
            end = closed_at
            close_date = closed_at.date()
        # Stage entry times spread between creation and the last move, in order.
        span = (end - created).total_seconds()
        cuts = sorted(rng.random() for _ in range(len(route) - 1))
        times = [created] + [created + timedelta(seconds=span * c) for c in cuts]
        if not is_open:
            times[-1] = end
        last = route[-1]
        amount = Decimal(rng.randrange(2_000, 120_000, 500))
        deals.append(
            Opportunity(
                name=f"{account.name} – {rng.choice(PRODUCTS)}",
                account=account,
                owner=owner,
                pipeline=pipeline,
                stage=last,
                amount=amount,
                expected_close_date=close_date,
                deal_type=Opportunity.DealType.EXPANSION
                if account.is_customer
                else Opportunity.DealType.NEW_BUSINESS,
                forecast_category=ForecastCategory.CLOSED
                if last.kind == Stage.Kind.WON
                else ForecastCategory.OMITTED
                if last.kind == Stage.Kind.LOST
                else last.forecast_category,
                next_step=rng.choice(NEXT_STEPS) if is_open else "",
                next_step_date=(now + timedelta(days=rng.randint(-5, 20))).date()
                if is_open
                else None,
                lost_reason=rng.choice(reasons) if last.kind == Stage.Kind.LOST else None,
                position=float(index * 1024),
                stage_entered_at=times[-1],
                last_activity_at=times[-1] + timedelta(hours=rng.randint(0, 72))
                if is_open
                else times[-1],
                won_at=times[-1] if last.kind == Stage.Kind.WON else None,
                closed_at=None if is_open else times[-1],
            )
        )
        paths.append((route, times))
    created_deals = Opportunity.objects.bulk_create(deals)
    # created_at is auto_now_add: put the believable creation time back.
    for deal, (_route, times) in zip(created_deals, paths, strict=True):
        deal.created_at = times[0]
    Opportunity.objects.bulk_update(created_deals, ["created_at"], batch_size=500)

    changes, activities = [], []
    for deal, (route, times) in zip(created_deals, paths, strict=True):
        previous = None
        for step, (stage, at) in enumerate(zip(route, times, strict=True)):
            changes.append(
                StageChange(
                    opportunity=deal,
                    from_stage=previous,
                    to_stage=stage,
                    changed_by=deal.owner,
                    changed_at=at,
                    amount=deal.amount,
                    seconds_in_from_stage=int((at - times[step - 1]).total_seconds())
                    if step
                    else None,
                )
            )
            previous = stage
        assert deal.account is not None  # every demo deal has an account
        activities.append(
            Activity(
                kind=rng.choice([Activity.Kind.CALL, Activity.Kind.EMAIL, Activity.Kind.MEETING]),
                subject=f"Touch base with {deal.account.name}",
                owner=deal.owner,
                created_by=deal.owner,
                opportunity=deal,
                done_at=deal.last_activity_at,
            )
        )
        if deal.closed_at is None and rng.random() < 0.15:
            due = now - timedelta(days=rng.randint(1, 10))
            activities.append(
                Activity(
                    kind=Activity.Kind.TASK,
                    subject=rng.choice(["Send follow-up", "Chase signature", "Prepare quote"]),
                    owner=deal.owner,
                    created_by=deal.owner,
                    opportunity=deal,
                    due_at=due,
                    remind_at=due - timedelta(minutes=15),
                    reminded_at=due,
                )
            )
    StageChange.objects.bulk_create(changes, batch_size=1000)
    created_activities = Activity.objects.bulk_create(activities, batch_size=1000)
    for activity in created_activities:  # created_at is auto_now_add: back-date it
        if activity.done_at is not None:  # a logged touch
            activity.created_at = activity.done_at
        elif activity.due_at is not None:  # a task, created a few days before it is due
            activity.created_at = activity.due_at - timedelta(days=3)
    Activity.objects.bulk_update(created_activities, ["created_at"], batch_size=1000)
    return {
        "pipelines": 2,
        "accounts": len(accounts),
        "deals": len(created_deals),
        "stage changes": len(changes),
        "activities": len(activities),
    }
