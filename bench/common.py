"""Shared benchmark plumbing: Django setup on a bench database, timing, results files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def setup_django(database: str = "plumb_bench") -> None:
    """Point Django at this benchmark's own PostgreSQL database (created if missing) and
    migrate it. The server is DATABASE_URL's when set (its database name is replaced: a
    benchmark truncates its tables, so it never runs in the development database), else the
    local one."""
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x")
    if not server.startswith("postgres"):
        raise SystemExit("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://…")
    os.environ["DATABASE_URL"] = f"{server.rsplit('/', 1)[0]}/{database}"
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[-1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(
        ["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], capture_output=True, check=False
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
        "n": len(ms),
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_results(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **figures,
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    print(json.dumps(payload, indent=2, default=str))
    return path


@contextmanager
def autovacuum_stand_in(tables: list[str], every: float = 60.0) -> Iterator[dict[str, Any]]:
    """Do autovacuum's job while a load runs, when the server has autovacuum switched off.

    Production PostgreSQL runs autovacuum: it analyses a growing table (so the planner has
    statistics) and vacuums it (so index-only scans stay index-only). This machine's server
    ships with `autovacuum = off`, so a benchmark writing a million rows would measure a
    table no production database has. Once per `every` seconds (autovacuum's naptime) a
    background connection runs `VACUUM (ANALYZE)` on `tables`; its time is inside the
    measured run. `every` 0 does nothing (to measure the bare server). Yields a dict the
    caller may record: mode, passes, seconds spent."""
    import psycopg2

    report: dict[str, Any] = {"mode": "server autovacuum", "passes": 0, "seconds": 0.0}
    connection = psycopg2.connect(os.environ["DATABASE_URL"])
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        enabled = cursor.fetchone()[0] == "on"
    if enabled or every <= 0:
        connection.close()
        if not enabled:
            report["mode"] = "none: server has autovacuum off, stand-in switched off"
        yield report
        return
    report["mode"] = f"stand-in: VACUUM (ANALYZE) every {every:g} s (server has autovacuum off)"
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for table in tables:
                    cursor.execute(f"VACUUM (ANALYZE) {table}")  # bench-only, fixed names
            report["passes"] += 1
            report["seconds"] += time.perf_counter() - started

    worker = threading.Thread(target=loop, daemon=True)
    worker.start()
    try:
        yield report
    finally:
        stop.set()
        worker.join()
        connection.close()
        report["seconds"] = round(report["seconds"], 2)
