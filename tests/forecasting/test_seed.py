from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine

from crm.seed import seed_org
from forecasting import seed
from forecasting.models import ForecastSnapshot, Quota, SnapshotLine
from tests.forecasting.factories import deal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(date(2026, 11, 23), tick=False):
        yield


def test_seed_without_deals_only_sets_quotas_and_is_idempotent():
    org = seed_org(password="pw")
    counts = seed.run(org)
    assert counts == {"quotas": len(org.reps) * 5}
    assert seed.run(org) == {"quotas": 0}
    assert Quota.objects.count() == len(org.reps) * 5
    assert ForecastSnapshot.objects.exists() is False


def test_seed_with_deals_adds_weekly_snapshots_once():
    org = seed_org(password="pw")
    rep = org.reps[0]
    old = deal(rep, amount="100")
    old.created_at = old.created_at - timedelta(days=200)
    old.save(update_fields=["created_at"])
    counts = seed.run(org)
    assert counts["snapshots"] == ForecastSnapshot.objects.count() > 10
    assert SnapshotLine.objects.count() == counts["snapshots"]
    again = seed.run(org)
    assert again["snapshots"] == 0
    assert SnapshotLine.objects.count() == counts["snapshots"]
