from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from leads.models import Lead, LeadReason, LeadTransition

pytestmark = pytest.mark.django_db


def test_demo_seed_spreads_leads_over_stages_sources_owners_and_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    count = Lead.objects.count()
    assert 1900 <= count <= 2100
    assert set(Lead.objects.values_list("stage", flat=True).distinct()) == set(
        Lead.Lifecycle.values
    )
    assert set(Lead.objects.values_list("source", flat=True).distinct()) == set(Lead.Source.values)
    assert Lead.objects.exclude(owner=None).values("owner").distinct().count() == 12
    assert LeadReason.objects.filter(kind="disqualify").exists()
    assert LeadReason.objects.filter(kind="recycle").exists()
    sql = Lead.objects.filter(stage="sql").first()
    assert sql.missing_bant() == []
    converted = Lead.objects.filter(stage="converted").first()
    steps = list(LeadTransition.objects.filter(lead=converted).order_by("at"))
    assert [s.to_stage for s in steps] == ["mql", "srl", "sql", "converted"]
    assert steps[0].at >= converted.created_at
    assert Lead.objects.order_by("created_at").first().created_at.date() < steps[-1].at.date()
    call_command("seed_demo", stdout=StringIO())
    assert Lead.objects.count() == count
