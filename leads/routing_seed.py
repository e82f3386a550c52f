"""Demo routing rules (workers issue). `leads.seed.run` should call `run(org)` at merge: the
seed_demo command only imports `<app>.seed`."""

from __future__ import annotations

from crm.seed import DemoOrg
from leads.models import AssignmentRule


def run(org: DemoOrg) -> dict[str, int]:
    """One round-robin rule per region (EMEA, Americas) and a load-balanced fallback over the
    whole org. Idempotent (by rule name)."""
    created = 0
    specs = [
        (
            "EMEA inbound",
            10,
            {"regions": ["EMEA"]},
            "EMEA",
            AssignmentRule.Method.ROUND_ROBIN,
            False,
        ),
        (
            "Americas inbound",
            20,
            {"regions": ["Americas", "AMER"]},
            "Americas",
            AssignmentRule.Method.ROUND_ROBIN,
            False,
        ),
    ]
    for name, priority, criteria, team_name, method, fallback in specs:
        team = org.teams.get(team_name)
        if team is None:
            continue
        _, made = AssignmentRule.objects.get_or_create(
            name=name,
            defaults={
                "priority": priority,
                "target_team": team,
                "method": method,
                "is_fallback": fallback,
                **criteria,
            },
        )
        created += made
    root = next((team for team in org.teams.values() if team.parent_id is None), None)
    if root is not None and not AssignmentRule.objects.filter(is_fallback=True).exists():
        AssignmentRule.objects.create(
            name="Everyone else",
            priority=1000,
            is_fallback=True,
            target_team=root,
            method=AssignmentRule.Method.LOAD_BALANCED,
        )
        created += 1
    return {"assignment rules": created}
