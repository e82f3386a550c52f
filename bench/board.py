"""Kanban board benchmark: board page and card move at 5,000 and 50,000 open deals.

Seeds 50 reps and a pipeline with 6 open stages, bulk-inserts open deals, then times the
board page server-side (Django's test Client in-process: p50/p95 of 50 requests after
warm-up) as a rep, a manager and an admin, a card move (htmx POST), and counts the SQL
queries of one board page. Writes bench/results/board.json.

    .venv/bin/python bench/board.py                # sizes 5000,50000
    BENCH_BOARD_SIZES=500,5000 .venv/bin/python bench/board.py
"""

from __future__ import annotations

import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import setup_django, summary_ms, write_results

SIZES = [int(s) for s in os.environ.get("BENCH_BOARD_SIZES", "5000,50000").split(",")]
REQUESTS = int(os.environ.get("BENCH_BOARD_REQUESTS", "50"))
WARMUP = 5
TARGETS = {"board_p95_ms": {5000: 100, 50000: 150}, "queries": 8, "move_p95_ms": 30}


def reset() -> dict[str, object]:
    """An empty pipeline world: 50 reps in 5 teams under one manager, 6 open stages."""
    from django.db import connection

    from crm.models import Team, User
    from pipeline.models import Pipeline, Stage

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE pipeline_stagechange, crm_activity, pipeline_opportunity, pipeline_stage,"
            " pipeline_pipeline, django_session RESTART IDENTITY CASCADE"
        )
    root, _ = Team.objects.get_or_create(name="Bench org", parent=None)
    manager, _ = User.objects.get_or_create(
        username="bench_manager", defaults={"role": User.Role.MANAGER, "team": root}
    )
    root.manager = manager
    root.save()
    admin, _ = User.objects.get_or_create(
        username="bench_admin", defaults={"role": User.Role.ADMIN, "team": root}
    )
    reps = []
    for t in range(5):
        team, _ = Team.objects.get_or_create(name=f"Bench team {t}", parent=root)
        for r in range(10):
            rep, _ = User.objects.get_or_create(
                username=f"bench_rep{t * 10 + r}",
                defaults={
                    "role": User.Role.REP,
                    "team": team,
                    "first_name": "Rep",
                    "last_name": f"{t}{r}",
                },
            )
            reps.append(rep)
    pipeline = Pipeline.objects.create(name="Bench", is_default=True)
    specs = [(f"Stage {i + 1}", 10 + i * 15, "open") for i in range(6)]
    specs += [("Won", 100, "won"), ("Lost", 0, "lost")]
    stages = Stage.objects.bulk_create(
        Stage(pipeline=pipeline, name=n, order=i, probability=p, kind=k, rot_after_days=14)
        for i, (n, p, k) in enumerate(specs)
    )
    return {
        "pipeline": pipeline,
        "stages": stages[:6],
        "reps": reps,
        "manager": manager,
        "admin": admin,
    }


def seed(world: dict[str, object], start: int, stop: int) -> float:
    """Bulk-insert open deals [start, stop) spread over reps and stages; returns seconds."""
    from django.db import connection
    from django.utils import timezone

    from pipeline.models import Opportunity

    began = time.perf_counter()
    now = timezone.now()
    reps, stages = world["reps"], world["stages"]
    batch = []
    for i in range(start, stop):
        batch.append(
            Opportunity(
                name=f"Deal {i}",
                owner=reps[i % len(reps)],
                pipeline=world["pipeline"],
                stage=stages[(i // len(reps)) % len(stages)],
                amount=Decimal(1000 + (i * 37) % 90000),
                position=float(i * 1024),
                stage_entered_at=now - timezone.timedelta(days=i % 30),
                last_activity_at=now - timezone.timedelta(days=i % 20),
                next_step="Follow up" if i % 3 == 0 else "",
            )
        )
        if len(batch) == 10_000:
            Opportunity.objects.bulk_create(batch)
            batch = []
    Opportunity.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load: statistics and the visibility map
        # (which lets the header aggregate run as an index-only scan).
        cursor.execute("VACUUM ANALYZE pipeline_opportunity")
    return time.perf_counter() - began


def time_board(client, url: str) -> tuple[dict[str, float], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        assert client.get(url).status_code == 200
    samples, cpu = [], []
    for _ in range(REQUESTS):
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        samples.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    # Wall time includes PostgreSQL; the Django process's own CPU time shows how much of it
    # is ours when the shared machine is busy.
    cpu_stats = summary_ms(cpu)
    stats = {
        **summary_ms(samples),
        "cpu_p50_ms": cpu_stats["p50_ms"],
        "cpu_p95_ms": cpu_stats["p95_ms"],
    }
    return stats, len(queries)


def time_moves(client, world: dict[str, object]) -> dict[str, float]:
    """Move one rep's deals back and forth between stages 1 and 2 (htmx POST, full response)."""
    from django.urls import reverse

    from pipeline.models import Opportunity

    rep, stages = world["reps"][0], world["stages"]
    client.force_login(rep)
    deals = list(Opportunity.objects.filter(owner=rep).order_by("pk")[: REQUESTS + WARMUP])
    samples, cpu = [], []
    for index, deal in enumerate(deals):
        target = stages[1] if deal.stage_id != stages[1].pk else stages[2]
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.post(
            reverse("pipeline:move_card", args=[deal.pk]),
            {"stage": target.pk, "version": deal.version, "via": "drag"},
            headers={"HX-Request": "true"},
        )
        elapsed, elapsed_cpu = time.perf_counter() - began, time.process_time() - began_cpu
        assert response.status_code == 200, response.status_code
        if index >= WARMUP:
            samples.append(elapsed)
            cpu.append(elapsed_cpu)
    cpu_stats = summary_ms(cpu)
    return {
        **summary_ms(samples),
        "cpu_p50_ms": cpu_stats["p50_ms"],
        "cpu_p95_ms": cpu_stats["p95_ms"],
    }


def main() -> int:
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    setup_django("plumb_bench_pipeline")
    from django.test import Client
    from django.urls import reverse

    world = reset()
    url = reverse("pipeline:board", args=[world["pipeline"].pk])
    figures: dict[str, object] = {"sizes": {}, "targets": TARGETS, "requests": REQUESTS}
    seeded = 0
    for size in SIZES:
        seed_s = seed(world, seeded, size)
        seeded = size
        row: dict[str, object] = {"seed_s": round(seed_s, 2)}
        client = Client()
        for role in ("rep", "manager", "admin"):
            user = world["reps"][0] if role == "rep" else world[role]
            client.force_login(user)
            stats, queries = time_board(client, url)
            row[f"board_{role}"] = {**stats, "queries": queries}
            print(f"{size:>6} deals  board as {role:<7} {stats}  queries={queries}", flush=True)
        row["move"] = time_moves(client, world)
        print(f"{size:>6} deals  move            {row['move']}", flush=True)
        figures["sizes"][str(size)] = row
    write_results("board", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
