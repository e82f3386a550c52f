"""Demo data for forecasting (called by `manage.py seed_demo` after the org exists; idempotent).

Quotas for every rep for the last four quarters and the current one; then, if the pipeline
seed created deals, one snapshot per past week since the start of the previous quarter,
rebuilt from the deals' dates (open at that Monday: created before it, closed after it).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.seed import DemoOrg
from forecasting.models import ForecastSnapshot, Quota, SnapshotLine
from forecasting.periods import fiscal_start_month, recent_quarters, week_start
from pipeline.models import Opportunity


@transaction.atomic
def run(org: DemoOrg) -> dict[str, int]:
    """Create this app's demo rows unless they exist; return counts to print."""
    start_month = fiscal_start_month()
    quarters = recent_quarters(start_month, 5)
    quotas = 0
    for rep in sorted(org.reps, key=lambda u: u.username):
        for quarter in quarters:
            amount = Decimal(org.rng.randrange(60, 160) * 1000)
            _, created = Quota.objects.get_or_create(
                user=rep, period=quarter.label, defaults={"amount": amount}
            )
            quotas += created
    if not Opportunity.objects.exists():
        return {"quotas": quotas}
    snapshots = lines = 0
    this_week = week_start(timezone.localdate())
    monday = week_start(quarters[-2].start)
    while monday < this_week:
        taken_at = timezone.make_aware(datetime.combine(monday, time(0, 30)))
        snapshot, created = ForecastSnapshot.objects.get_or_create(
            week_start=monday, defaults={"taken_at": taken_at}
        )
        if created:
            open_then = Opportunity.objects.filter(created_at__lt=taken_at).filter(
                Q(closed_at__isnull=True) | Q(closed_at__gte=taken_at)
            )
            rows = [
                SnapshotLine(
                    snapshot=snapshot,
                    opportunity_id=pk,
                    owner_id=owner_id,
                    stage_id=stage_id,
                    amount=amount,
                    forecast_category=category if category != "closed" else "commit",
                    expected_close_date=close,
                    probability=probability,
                )
                for pk, owner_id, stage_id, amount, category, close, probability in open_then.values_list(
                    "pk", "owner_id", "stage_id", "amount", "forecast_category",
                    "expected_close_date", "stage__probability",
                )
            ]  # fmt: skip
            SnapshotLine.objects.bulk_create(rows, batch_size=2000)
            snapshot.completed_at, snapshot.line_count = timezone.now(), len(rows)
            snapshot.save(update_fields=["completed_at", "line_count"])
            snapshots, lines = snapshots + 1, lines + len(rows)
        monday += timedelta(days=7)
    return {"quotas": quotas, "snapshots": snapshots, "snapshot lines": lines}
