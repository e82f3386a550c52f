"""Factories for routing (workers issue): assignment rules, MQL leads, a team of reps."""

from __future__ import annotations

import factory
from django.utils import timezone

from leads.models import AssignmentRule, Lead
from tests.factories import LeadFactory, TeamFactory, UserFactory


class AssignmentRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AssignmentRule
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Rule {n}")
    priority = factory.Sequence(lambda n: n + 1)

    @factory.post_generation
    def reps(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create and extracted:
            self.target_reps.set(extracted)


class MqlLeadFactory(LeadFactory):
    stage = Lead.Lifecycle.MQL
    mql_at = factory.LazyFunction(timezone.now)


def make_team(name: str, *, reps: int, manager: bool = True, **rep_fields: object) -> tuple:
    """A team with `reps` reps (and a manager): returns (team, [reps], manager)."""
    team = TeamFactory(name=name)
    boss = None
    if manager:
        boss = UserFactory(
            username=f"{name.lower().replace(' ', '_')}_boss", role="manager", team=team
        )
        team.manager = boss
        team.save()
    members = [
        UserFactory(
            username=f"{name.lower().replace(' ', '_')}_rep{i}", role="rep", team=team, **rep_fields
        )
        for i in range(reps)
    ]
    return team, members, boss
