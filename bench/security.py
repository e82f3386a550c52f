"""Security/admin benchmark: the audit trail's bulk write and deactivation reassignment.

Sizes (env or argv): BENCH_LEADS (default 10,000 open leads), BENCH_DEALS (2,000 open deals),
BENCH_REPS (10 receiving reps). Measures:
- record_many over BENCH_LEADS ids (one audit row per lead, batched inserts);
- reassign_open_work round-robin of one rep's open leads and deals over the team;
- the audit page's list query and the CSV export of everything (rows/s).
"""

from __future__ import annotations

import os
import sys
import time
from decimal import Decimal

from common import setup_django, summary_ms, write_results

LEADS = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_LEADS", "10000"))
DEALS = int(os.environ.get("BENCH_DEALS", str(max(1, LEADS // 5))))
REPS = int(os.environ.get("BENCH_REPS", "10"))


def main() -> None:
    setup_django(os.environ.get("BENCH_DB", "plumb_bench_security"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from crm import audit
    from crm.models import AuditLog, Team, User
    from crm.services_users import reassign_open_work
    from leads.models import Lead
    from pipeline.models import Opportunity, Pipeline, Stage

    # A clean slate each run (the bench database is ours alone).
    Opportunity.objects.all().delete()
    Lead.objects.all().delete()
    AuditLog.objects.all().delete()
    User.objects.filter(username__startswith="bench_").delete()
    team, _ = Team.objects.get_or_create(name="Bench team", parent=None)
    admin = User.objects.create(username="bench_admin", role="admin")
    leaving = User.objects.create(username="bench_leaving", role="rep", team=team)
    User.objects.bulk_create(
        User(username=f"bench_rep{i}", role="rep", team=team) for i in range(REPS)
    )
    pipeline, _ = Pipeline.objects.get_or_create(name="Bench pipeline")
    stage, _ = Stage.objects.get_or_create(pipeline=pipeline, name="Open", defaults={"order": 0})
    now = timezone.now()
    Lead.objects.bulk_create(
        (Lead(email=f"bench{i}@bench.example", owner=leaving, stage="mql") for i in range(LEADS)),
        batch_size=2000,
    )
    Opportunity.objects.bulk_create(
        (
            Opportunity(
                name=f"Bench deal {i}",
                owner=leaving,
                pipeline=pipeline,
                stage=stage,
                amount=Decimal("100"),
                stage_entered_at=now,
            )
            for i in range(DEALS)
        ),
        batch_size=2000,
    )
    ids = list(Lead.objects.values_list("pk", flat=True))

    started = time.perf_counter()
    audit.record_many(actor=admin, action="bench.bulk", model=Lead, ids=ids)
    record_many_s = time.perf_counter() - started

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = reassign_open_work(by=admin, from_user=leaving)
        reassign_s = time.perf_counter() - started

    page_samples = []
    filters = audit.AuditFilters(action="lead.reassign")
    for _ in range(20):
        started = time.perf_counter()
        list(audit.audit_entries(user=admin, filters=filters)[:50])
        page_samples.append(time.perf_counter() - started)

    from crm.csv_export import csv_lines

    started = time.perf_counter()
    rows = (
        [e.at, e.actor_id, e.action, e.target_type, e.target_id, e.target_label]
        for e in AuditLog.objects.order_by("-at", "-pk").iterator(chunk_size=2000)
    )
    exported = sum(1 for _ in csv_lines(["at", "actor", "action", "type", "id", "label"], rows)) - 1
    export_s = time.perf_counter() - started

    write_results(
        "security",
        {
            "sizes": {"leads": LEADS, "deals": DEALS, "receiving_reps": REPS},
            "record_many_ms": round(record_many_s * 1000, 1),
            "reassign_round_robin_ms": round(reassign_s * 1000, 1),
            "reassign_queries": len(queries),
            "reassigned": {"leads": result.leads, "deals": result.opportunities},
            "audit_page_query": summary_ms(page_samples),
            "audit_export_rows": exported,
            "audit_export_rows_per_s": round(exported / export_s),
        },
    )


if __name__ == "__main__":
    main()
