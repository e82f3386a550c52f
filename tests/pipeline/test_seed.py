"""The demo seed: believable pipeline data, created once."""

from __future__ import annotations

import pytest

from activities.models import Activity
from crm.seed import seed_org
from pipeline import seed
from pipeline.models import Opportunity, Pipeline, StageChange

pytestmark = pytest.mark.django_db


def test_seed_creates_pipelines_deals_history_and_is_idempotent():
    org = seed_org(password="pw")
    counts = seed.run(org)
    assert counts["deals"] == 600
    default = Pipeline.objects.get(is_default=True)
    assert list(default.stages.values_list("name", "probability")) == [
        ("Prospecting", 10),
        ("Qualification", 20),
        ("Meeting/Demo", 40),
        ("Proposal", 60),
        ("Negotiation", 80),
        ("Closed Won", 100),
        ("Closed Lost", 0),
    ]
    assert Pipeline.objects.count() == 2
    assert Opportunity.objects.open().count() == 300
    won = Opportunity.objects.filter(stage__kind="won")
    assert won.exists()
    assert not won.filter(won_at__isnull=True).exists()
    assert not Opportunity.objects.filter(stage__kind="lost", lost_reason__isnull=True).exists()
    assert Opportunity.objects.values("owner").distinct().count() == 12
    # Every deal's history ends in its current stage.
    for deal in Opportunity.objects.all()[:50]:
        assert StageChange.objects.filter(opportunity=deal).first().to_stage_id == deal.stage_id
    assert Activity.objects.open_tasks().exists()
    assert seed.run(org) == {}
    assert Opportunity.objects.count() == 600
