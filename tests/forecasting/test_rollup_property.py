"""The rollup equals a brute-force recount from raw opportunities, on random orgs."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import Team, User
from forecasting import selectors
from forecasting.models import Quota
from forecasting.periods import parse_period
from pipeline.models import Opportunity
from tests.factories import PipelineFactory, TeamFactory, UserFactory
from tests.forecasting.factories import aware

pytestmark = pytest.mark.django_db
Q4 = parse_period("2026-Q4", 1)
STAGES = ["Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]
CATEGORIES = ["pipeline", "best_case", "commit", "omitted"]

orgs = st.fixed_dictionaries(
    {
        "parents": st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=5),
        "reps": st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=6),
        "deals": st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=5),  # owner index
                st.sampled_from(STAGES),
                st.sampled_from(CATEGORIES),
                st.integers(min_value=0, max_value=50_000),  # amount
                st.integers(min_value=-40, max_value=130),  # close date offset from Q4 start
            ),
            max_size=25,
        ),
        "quotas": st.lists(st.integers(min_value=0, max_value=9000), max_size=6),
    }
)


def build(spec: dict) -> User:
    admin = UserFactory(username="prop_admin", role="admin")
    teams = [TeamFactory(name="root")]
    for i, parent in enumerate(spec["parents"]):
        teams.append(TeamFactory(name=f"t{i}", parent=teams[parent % len(teams)]))
    reps = [
        UserFactory(username=f"prop{i}", role="rep", team=teams[t % len(teams)])
        for i, t in enumerate(spec["reps"])
    ]
    for rep, amount in zip(reps, spec["quotas"], strict=False):
        Quota.objects.create(user=rep, period=Q4.label, amount=Decimal(amount))
    pipeline = PipelineFactory(name="prop")
    stages = {s.name: s for s in pipeline.stages.all()}
    rows = []
    for owner, stage, category, amount, offset in spec["deals"]:
        close = Q4.start + timedelta(days=offset)
        s = stages[stage]
        rows.append(
            Opportunity(
                name="d", owner=reps[owner % len(reps)], pipeline=pipeline, stage=s,
                amount=Decimal(amount), expected_close_date=close, forecast_category=category,
                stage_entered_at=aware(date(2026, 9, 1)),
                closed_at=aware(close) if s.kind != "open" else None,
            )
        )  # fmt: skip
    Opportunity.objects.bulk_create(rows)
    return admin


def brute_force(owner_ids: set[int]) -> dict[str, Decimal]:
    out = dict.fromkeys(("closed_won", "commit", "best_case", "pipeline", "omitted"), Decimal(0))
    out["weighted"] = Decimal(0)
    for o in Opportunity.objects.select_related("stage"):
        if o.owner_id not in owner_ids:
            continue
        if o.stage.kind == "won" and Q4.start_at <= o.closed_at < Q4.end_at:
            out["closed_won"] += o.amount
        elif o.stage.kind == "open" and Q4.contains(o.expected_close_date):
            out[o.forecast_category] += o.amount
            if o.forecast_category != "omitted":
                out["weighted"] += o.amount * o.stage.probability / 100
    out["weighted"] = out["weighted"].quantize(Decimal("0.01"))
    return out


def quota_of(team: Team) -> Decimal:
    own = Quota.objects.filter(team=team, period=Q4.label).first()
    if own:
        return own.amount
    members = sum(
        (q.amount for q in Quota.objects.filter(user__team=team, period=Q4.label)), Decimal(0)
    )
    return members + sum((quota_of(c) for c in team.children.all()), Decimal(0))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=orgs)
def test_rollup_matches_brute_force_on_random_orgs(spec):
    with transaction.atomic():
        admin = build(spec)
        for team in Team.objects.all():
            node = selectors.resolve_node(admin, team_id=team.pk)
            rollup = selectors.forecast_rollup(viewer=admin, period=Q4, node=node)
            for row in [*rollup.rows, None]:
                row_node = row.node if row else node
                figures = row.figures if row else rollup.total
                if row_node.kind == "user":
                    owners = {row_node.id}
                    expected_quota = sum(
                        (q.amount for q in Quota.objects.filter(user_id=row_node.id)), Decimal(0)
                    )
                else:
                    owners = set(
                        User.objects.filter(team__path__startswith=row_node.path).values_list(
                            "pk", flat=True
                        )
                    )
                    expected_quota = quota_of(Team.objects.get(pk=row_node.id))
                expected = brute_force(owners)
                for name, value in expected.items():
                    assert getattr(figures, name) == value, (row_node, name)
                assert figures.quota == expected_quota
                assert figures.commit_forecast == expected["closed_won"] + expected["commit"]
        transaction.set_rollback(True)
