"""Lead routing throughput and correctness under concurrency.

N unassigned MQLs, R reps in one team, one round-robin rule, W worker processes running the
real `leads.assignment.assign_leads` at once on PostgreSQL. Reports assignments/s, duplicates,
spread (busiest − idlest rep) and reps over cap.

    .venv/bin/python bench/assignment.py [LEADS] [REPS] [WORKERS]
    (or BENCH_LEADS / BENCH_REPS / BENCH_WORKERS; defaults 10000 / 50 / 8)
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import setup_django, write_results


def _arg(position: int, name: str, default: int) -> int:
    if len(sys.argv) > position:
        return int(sys.argv[position])
    return int(os.environ.get(name, default))


LEADS = _arg(1, "BENCH_LEADS", 10_000)
REPS = _arg(2, "BENCH_REPS", 50)
WORKERS = _arg(3, "BENCH_WORKERS", 8)
CAP = 500


def prepare() -> None:
    from django.db import connection

    from crm.models import Team, User
    from leads.models import AssignmentRule, Lead

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leads_assignmentlog, leads_leadtransition, crm_activity, crm_notification,"
            " leads_lead, leads_assignmentrule_target_reps, leads_assignmentrule CASCADE"
        )
    User.objects.filter(username__startswith="bench_rep").delete()
    team, _ = Team.objects.get_or_create(name="Bench routing", parent=None)
    User.objects.bulk_create(
        User(username=f"bench_rep{i}", role="rep", team=team, max_open_leads=CAP)
        for i in range(REPS)
    )
    AssignmentRule.objects.create(name="Bench round robin", target_team=team)
    Lead.objects.bulk_create(
        (Lead(email=f"bench{i}@example.com", stage="mql") for i in range(LEADS)), batch_size=5000
    )


def worker(barrier: multiprocessing.synchronize.Barrier) -> None:
    from django.db import connections

    from leads.assignment import assign_leads

    barrier.wait()
    assign_leads()
    connections.close_all()


def main() -> None:
    setup_django("plumb_bench_workers")
    from django.db import connections
    from django.db.models import Count

    from activities.models import Activity
    from config.celery import app
    from leads.models import AssignmentLog, Lead

    # E-mail tasks are published after each commit, as in production, to an in-process broker
    # (the benchmark measures routing, not Redis or SMTP).
    app.conf.update(CELERY_BROKER_URL="memory://", CELERY_TASK_ALWAYS_EAGER=False)
    prepare()
    connections.close_all()  # forked workers open their own connections
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS + 1)
    processes = [context.Process(target=worker, args=(barrier,)) for _ in range(WORKERS)]
    for process in processes:
        process.start()
    load_before = os.getloadavg()[0]
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    failed = [p.exitcode for p in processes if p.exitcode != 0]

    assigned = Lead.objects.filter(owner__isnull=False).count()
    logs = AssignmentLog.objects.count()
    duplicates = logs - AssignmentLog.objects.values("lead").distinct().count()
    per_rep = list(
        Lead.objects.filter(owner__isnull=False)
        .values("owner")
        .annotate(n=Count("pk"))
        .values_list("n", flat=True)
    )
    per_rep += [0] * (REPS - len(per_rep))
    write_results(
        "assignment",
        {
            "leads": LEADS,
            "reps": REPS,
            "workers": WORKERS,
            "seconds": round(elapsed, 2),
            "assigned": assigned,
            "assignments_per_s": round(assigned / elapsed, 1),
            "duplicates": duplicates,
            "spread": max(per_rep) - min(per_rep),
            "over_cap": sum(1 for n in per_rep if n > CAP),
            "unassigned": LEADS - assigned,
            "moved_to_srl": Lead.objects.filter(stage="srl").count(),
            "first_contact_tasks": Activity.objects.filter(kind="task").count(),
            "failed_workers": len(failed),
            # The machine is shared: the 1-minute load average says how contended the run was.
            "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "targets": {"assignments_per_s": 2000, "duplicates": 0, "spread": 1, "over_cap": 0},
        },
    )


if __name__ == "__main__":
    main()
