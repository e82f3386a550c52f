"""Pipeline test helpers: lost reasons and bulk deals for size tests."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone

from pipeline.models import LostReason, Opportunity, Stage


class LostReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LostReason
        django_get_or_create = ("label",)

    label = factory.Sequence(lambda n: f"Reason {n}")


def bulk_deals(count: int, *, owners: list, stages: list[Stage], start: int = 0) -> None:
    """`count` open deals spread round-robin over owners and stages, in batched INSERTs."""
    now = timezone.now()
    rows = [
        Opportunity(
            name=f"Bulk deal {start + i}",
            owner=owners[i % len(owners)],
            pipeline_id=stages[0].pipeline_id,
            stage=stages[i % len(stages)],
            amount=Decimal(1000 + i % 7 * 100),
            position=float(start + i),
            stage_entered_at=now,
        )
        for i in range(count)
    ]
    Opportunity.objects.bulk_create(rows, batch_size=5000)
