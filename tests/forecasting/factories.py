"""Forecasting test helpers: deals in a given state, quotas, snapshots."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import factory
from django.utils import timezone

from forecasting.models import Quota
from pipeline.models import Opportunity, Pipeline, Stage
from tests.factories import OpportunityFactory, PipelineFactory


class QuotaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quota

    period = "2026-Q4"
    amount = Decimal("10000")


def stages(pipeline: Pipeline) -> dict[str, Stage]:
    """The factory pipeline's stages by name: Qualification (20 %, pipeline), Proposal (60 %,
    best case), Negotiation (80 %, commit), Closed Won, Closed Lost."""
    return {s.name: s for s in pipeline.stages.all()}


def aware(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def deal(
    owner,
    *,
    pipeline: Pipeline | None = None,
    stage: str = "Negotiation",
    amount: str | Decimal = "1000",
    close: date | None = date(2026, 11, 15),
    category: str | None = None,
    closed_on: date | None = None,
    **extra,
) -> Opportunity:
    """A deal of `owner` in the named stage; won/lost deals get closed_at (default `close`)."""
    pipeline = pipeline or Pipeline.objects.filter(name="Forecast test").first()
    if pipeline is None:
        pipeline = PipelineFactory(name="Forecast test")
    st = stages(pipeline)[stage]
    if category is None:
        category = st.forecast_category
    closed_at = None
    if st.kind != "open":
        closed_at = aware(closed_on or close)
    return OpportunityFactory(
        owner=owner,
        pipeline=pipeline,
        stage=st,
        amount=Decimal(amount),
        expected_close_date=close,
        forecast_category=category,
        closed_at=closed_at,
        won_at=closed_at if st.kind == "won" else None,
        **extra,
    )
