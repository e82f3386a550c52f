"""Demo routing rules: one per region plus a fallback, idempotent."""

from __future__ import annotations

import pytest

from crm.seed import seed_org
from leads import routing_seed
from leads.models import AssignmentRule

pytestmark = pytest.mark.django_db


def test_demo_rules_cover_both_regions_and_a_fallback_once():
    org = seed_org(password="demo")
    assert routing_seed.run(org) == {"assignment rules": 3}
    assert routing_seed.run(org) == {"assignment rules": 0}
    rules = list(AssignmentRule.objects.values_list("name", "is_fallback"))
    assert rules == [("EMEA inbound", False), ("Americas inbound", False), ("Everyone else", True)]
