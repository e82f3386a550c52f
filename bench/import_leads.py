"""Lead import throughput over real HTTP: POST /api/v1/leads/import/ to gunicorn on PostgreSQL.

Default (the issue's sizes): 100 batches × 1,000 leads, gunicorn with 2 workers, 2 client
threads. Prints leads/s, p50/p95 per batch, the row count after re-posting every batch (must
equal the first run's), and the raw COPY rows/s on the same table in the same run (the ceiling).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/plumb_bench_leads \
        .venv/bin/python bench/import_leads.py [BATCHES [BATCH_SIZE]]

Env: BENCH_PORT (8201), BENCH_WORKERS (2), BENCH_CLIENTS (2).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, setup_django, summary_ms, write_results

BATCHES = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_BATCHES", 100))
BATCH_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("BENCH_BATCH", 1000))
PORT = int(os.environ.get("BENCH_PORT", 8201))
WORKERS = int(os.environ.get("BENCH_WORKERS", 2))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 2))


def make_batches(prefix: str) -> list[bytes]:
    """Deterministic, realistic records: every batch a distinct 1,000 e-mails."""
    industries = ["Software", "Retail", "Finance", "Healthcare"]
    sources = ["web_form", "event", "referral", "partner"]
    bodies = []
    for b in range(BATCHES):
        leads = []
        for i in range(BATCH_SIZE):
            n = b * BATCH_SIZE + i
            leads.append(
                {
                    "email": f"{prefix}{n}@company{n % 5000}.example",
                    "first_name": f"First{n}",
                    "last_name": f"Last{n}",
                    "company": f"Company {n % 5000}",
                    "title": "Head of Operations",
                    "phone": f"+1 555 {n % 10000:04d}",
                    "employee_count": 10 + n % 990,
                    "industry": industries[n % 4],
                    "country": "Germany",
                    "source": sources[n % 4],
                    "campaign": "Spring webinar",
                    "external_id": f"{prefix}-ext-{n}",
                    "attributes": {"plan_interest": "pro", "visits": n % 17},
                }
            )
        bodies.append(json.dumps({"match_on": "email", "leads": leads}).encode())
    return bodies


def start_gunicorn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    import requests

    for _ in range(60):
        try:
            requests.get(f"http://127.0.0.1:{PORT}/healthz", timeout=10)
            return process
        except requests.RequestException:
            time.sleep(0.5)
    stop(process)
    raise SystemExit("gunicorn did not start")


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGINT = gunicorn's quick shutdown; kill if it lingers (idle keep-alive clients)."""
    server.send_signal(2)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


def post_all(bodies: list[bytes], token: str) -> tuple[float, list[float], dict[str, int]]:
    import requests

    url = f"http://127.0.0.1:{PORT}/api/v1/leads/import/"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sessions = [requests.Session() for _ in range(CLIENTS)]
    totals = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}

    def post(index: int) -> tuple[float, dict[str, Any]]:
        session = sessions[index % CLIENTS]
        started = time.perf_counter()
        response = session.post(url, data=bodies[index], headers=headers, timeout=120)
        elapsed = time.perf_counter() - started
        if response.status_code not in (200, 207):
            raise SystemExit(f"batch {index}: HTTP {response.status_code} {response.text[:300]}")
        return elapsed, response.json()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        outcomes = list(pool.map(post, range(len(bodies))))
    wall = time.perf_counter() - started
    for session in sessions:
        session.close()
    for _, body in outcomes:
        for key in totals:
            totals[key] += body[key]
    return wall, [elapsed for elapsed, _ in outcomes], totals


def copy_ceiling(rows: int) -> float:
    """rows/s of a raw COPY into leads_lead (same table, same indexes), then removed again."""
    from django.db import connection, transaction
    from django.utils import timezone

    from leads.models import Lead

    fields = [f for f in Lead._meta.concrete_fields if not f.primary_key and not f.null]
    now = timezone.now().isoformat()

    def value(field: Any, n: int) -> str:
        if field.name == "email":
            return f"copy{n}@company{n % 5000}.example"
        if field.name in ("created_at", "updated_at"):
            return now
        if field.name == "first_name":
            return f"First{n}"
        if field.name == "company":
            return f"Company {n % 5000}"
        default = field.get_default()
        if isinstance(default, dict | list):
            return json.dumps(default)
        return str(default)

    buffer = io.StringIO()
    for n in range(rows):
        buffer.write("\t".join(value(f, n) for f in fields) + "\n")
    buffer.seek(0)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.copy_expert(f"COPY leads_lead ({columns}) FROM STDIN", buffer)
        elapsed = time.perf_counter() - started
        cursor.execute("DELETE FROM leads_lead WHERE email LIKE 'copy%%'")
    return rows / elapsed


def main() -> None:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plumb_bench_leads")
    setup_django(database="plumb_bench_leads")
    from django.db import connection

    from crm.models import User
    from crm.services import create_api_token
    from leads.models import Lead

    with connection.cursor() as cursor:  # a clean table each run (bench database only)
        cursor.execute("TRUNCATE leads_lead CASCADE")
    user, _ = User.objects.get_or_create(username="bench_marketing", defaults={"role": "marketing"})
    _, token = create_api_token(user=user, name="bench", scopes=["leads:write"])
    connection.close()

    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "LOG_LEVEL": "WARNING",
        "API_RATE_IMPORT": "off",  # measure throughput, not the throttle
    }
    bodies = make_batches("bench")
    load_before = os.getloadavg()[0]
    server = start_gunicorn(env)
    try:
        wall, latencies, totals = post_all(bodies, token)
        rows_first = Lead.objects.count()
        wall_again, latencies_again, totals_again = post_all(bodies, token)
        rows_after_repost = Lead.objects.count()
    finally:
        stop(server)
    connection.close()
    total = BATCHES * BATCH_SIZE
    ceiling = copy_ceiling(total)
    figures = {
        "sizes": {"batches": BATCHES, "batch_size": BATCH_SIZE, "leads": total},
        "server": {
            "gunicorn_workers": WORKERS,
            "client_threads": CLIENTS,
            "database": "postgresql",
        },
        "first_run": {
            "leads_per_s": round(total / wall),
            "seconds": round(wall, 2),
            "per_batch": summary_ms(latencies),
            **totals,
        },
        "repost": {
            "leads_per_s": round(total / wall_again),
            "seconds": round(wall_again, 2),
            "per_batch": summary_ms(latencies_again),
            **totals_again,
        },
        "rows_after_first_run": rows_first,
        "rows_after_repost": rows_after_repost,
        "rows_equal": rows_first == rows_after_repost == total,
        "copy_ceiling_rows_per_s": round(ceiling),
        "target": {"leads_per_s": 5000, "p95_ms": 400},
        # The machine is shared: the 1-minute load average says how contended the run was.
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
    }
    write_results("import_leads", figures)
    if not figures["rows_equal"]:
        raise SystemExit("re-posting changed the row count")


if __name__ == "__main__":
    main()
