"""Leads test helpers (factories for the models this issue adds)."""

from __future__ import annotations

import factory

from leads.models import LeadReason


class LeadReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeadReason
        django_get_or_create = ("kind", "label")

    kind = LeadReason.Kind.DISQUALIFY
    label = factory.Sequence(lambda n: f"Reason {n}")


def lead_payload(n: int, **extra: object) -> dict[str, object]:
    """One import record as marketing would send it."""
    return {
        "email": f"person{n}@firm{n}.example",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "company": f"Firm {n}",
        **extra,
    }


# Routing factories live beside the routing tests; re-exported so factory discovery (the attack
# matrix) finds them here like every app's others.
from tests.leads.routing_factories import AssignmentRuleFactory  # noqa: E402

__all__ = ["AssignmentRuleFactory", "LeadReasonFactory"]
