"""Scoring benchmark: ingest engagement events through the real HTTP API, then rescore every
lead after a rule change.

Defaults are the issue's sizes: 100,000 leads, 20 rules, 1,000,000 events in batches of
1,000 over HTTP to gunicorn on port 8203. Targets: ≥ 10,000 events/s, full rescore ≤ 15 s.

    python bench/scoring.py [--leads N] [--events N] [--rules N] [--batch N]
                            [--clients N] [--workers N] [--port N]
                            [--rescore-workers N] [--vacuum-every S] [--rescore-only]

Every option also reads an environment variable (SCORING_LEADS, SCORING_EVENTS, …).
Uses the PostgreSQL database plumb_bench_scoring (wiped and refilled on each run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, autovacuum_stand_in, setup_django, summary_ms, write_results

INDUSTRIES = ["SaaS", "Fintech", "Retail", "Health", "Manufacturing", "Media"]
COUNTRIES = ["US", "DE", "FR", "GB", "CA", "JP"]
TITLES = ["VP Sales", "CTO", "Engineer", "Director of Marketing", "Analyst", "VP Engineering"]
EVENT_TYPES = [
    ("email_opened", ""),
    ("email_opened", ""),
    ("email_clicked", ""),
    ("page_viewed", "https://plumb.example/pricing"),
    ("page_viewed", "https://plumb.example/blog/post"),
    ("page_viewed", "https://plumb.example/docs"),
    ("content_downloaded", ""),
    ("form_submitted", "https://plumb.example/contact"),
    ("webinar_attended", ""),
    ("trial_started", ""),
    ("unsubscribed", ""),
]


def options() -> argparse.Namespace:
    def env(name: str, default: int) -> int:
        return int(os.environ.get(f"SCORING_{name.upper()}", default))

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=env("leads", 100_000))
    parser.add_argument("--events", type=int, default=env("events", 1_000_000))
    parser.add_argument("--rules", type=int, default=env("rules", 20))
    parser.add_argument("--batch", type=int, default=env("batch", 1000))
    parser.add_argument("--clients", type=int, default=env("clients", 4))
    parser.add_argument("--workers", type=int, default=env("workers", 3))
    parser.add_argument("--port", type=int, default=env("port", 8203))
    parser.add_argument("--rescore-workers", type=int, default=env("rescore_workers", 2))
    parser.add_argument(
        "--vacuum-every",
        type=int,
        default=env("vacuum_every", 60),
        help="seconds between VACUUM (ANALYZE) passes when the server has autovacuum off (0: none)",
    )
    parser.add_argument(
        "--rescore-only", action="store_true", help="reuse the data of the last run"
    )
    return parser.parse_args()


def rule_set(count: int) -> list[dict]:
    """`count` rules, half fit, half engagement (the issue's shape, varied)."""
    fit = [
        {
            "name": "Target industry",
            "category": "fit",
            "field": "industry",
            "operator": "in",
            "value": ["SaaS", "Fintech"],
            "points": 10,
        },
        {
            "name": "Mid-size",
            "category": "fit",
            "field": "employee_count",
            "operator": "between",
            "value": [11, 50],
            "points": 8,
        },
        {
            "name": "VP title",
            "category": "fit",
            "field": "title",
            "operator": "contains",
            "value": "VP",
            "points": 12,
        },
        {
            "name": "US",
            "category": "fit",
            "field": "country",
            "operator": "equals",
            "value": "US",
            "points": 5,
        },
        {
            "name": "Free mail",
            "category": "fit",
            "field": "email",
            "operator": "free_email",
            "points": -10,
        },
        {
            "name": "Large",
            "category": "fit",
            "field": "employee_count",
            "operator": "gte",
            "value": 500,
            "points": 6,
        },
        {
            "name": "Not retail",
            "category": "fit",
            "field": "industry",
            "operator": "not_equals",
            "value": "Retail",
            "points": 2,
        },
        {
            "name": "Director",
            "category": "fit",
            "field": "title",
            "operator": "starts_with",
            "value": "Director",
            "points": 7,
        },
        {
            "name": "Has plan",
            "category": "fit",
            "field": "attributes.plan",
            "operator": "is_set",
            "points": 4,
        },
        {
            "name": "No phone",
            "category": "fit",
            "field": "phone",
            "operator": "is_empty",
            "points": -2,
        },
    ]
    engagement = [
        {
            "name": "Contact form",
            "category": "engagement",
            "event_type": "form_submitted",
            "url_pattern": "/contact",
            "points": 15,
        },
        {
            "name": "Opened",
            "category": "engagement",
            "event_type": "email_opened",
            "points": 2,
            "max_occurrences": 10,
        },
        {
            "name": "Clicked",
            "category": "engagement",
            "event_type": "email_clicked",
            "points": 5,
            "max_occurrences": 10,
        },
        {
            "name": "Pricing",
            "category": "engagement",
            "event_type": "page_viewed",
            "url_pattern": "/pricing",
            "points": 15,
            "window_days": 90,
        },
        {
            "name": "Blog",
            "category": "engagement",
            "event_type": "page_viewed",
            "url_pattern": "/blog",
            "points": 2,
            "max_occurrences": 5,
        },
        {
            "name": "Download",
            "category": "engagement",
            "event_type": "content_downloaded",
            "points": 10,
        },
        {
            "name": "Trial",
            "category": "engagement",
            "event_type": "trial_started",
            "points": 25,
            "max_occurrences": 1,
        },
        {
            "name": "Unsubscribe",
            "category": "engagement",
            "event_type": "unsubscribed",
            "points": -5,
        },
        {
            "name": "Webinar",
            "category": "engagement",
            "event_type": "webinar_attended",
            "points": 12,
        },
        {
            "name": "Docs",
            "category": "engagement",
            "event_type": "page_viewed",
            "url_pattern": "/docs",
            "points": 1,
            "window_days": 30,
        },
    ]
    rules = []
    while len(rules) < count:
        rules.append((fit if len(rules) % 2 == 0 else engagement)[(len(rules) // 2) % 10])
    return rules


def reset_and_fill(args: argparse.Namespace) -> tuple[str, list[str]]:
    """Wipe the bench data, create leads, the rule set and a marketing token."""
    from django.db import connection

    from crm.models import User
    from crm.services import create_api_token
    from leads.models import Lead
    from scoring import services

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE scoring_engagementevent, scoring_scorehistory, scoring_rescorejob, "
            "scoring_rulesetversion, scoring_scoringrule, leads_leadtransition, crm_notification, "
            "crm_apitoken, crm_jobrun, leads_lead RESTART IDENTITY CASCADE"
        )
    rng = random.Random(7)
    emails = []
    started = time.perf_counter()
    rows = []
    for n in range(args.leads):
        domain = "gmail.com" if n % 7 == 0 else f"company{n % 5000}.example"
        email = f"lead{n}@{domain}"
        emails.append(email)
        rows.append(
            Lead(
                email=email,
                first_name=f"Lead{n}",
                title=rng.choice(TITLES),
                industry=rng.choice(INDUSTRIES),
                country=rng.choice(COUNTRIES),
                employee_count=rng.choice([5, 20, 40, 120, 800, None]),
                attributes={"plan": "pro"} if n % 3 == 0 else {},
            )
        )
        if len(rows) == 5000:
            Lead.objects.bulk_create(rows)
            rows = []
    Lead.objects.bulk_create(rows)
    with connection.cursor() as cursor:  # fresh rows: give the planner their statistics
        cursor.execute("ANALYZE leads_lead")
    print(f"{args.leads} leads in {time.perf_counter() - started:.1f}s", flush=True)
    user, _ = User.objects.get_or_create(username="bench_marketing", defaults={"role": "marketing"})
    services.install_rules(rules=rule_set(args.rules), by=user, change="Bench rule set")
    _, token = create_api_token(user=user, name="bench", scopes=["events:write"])
    return token, emails


def start_server(args: argparse.Namespace) -> subprocess.Popen:
    env = dict(
        os.environ,
        DEBUG="false",
        SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        LOG_LEVEL="WARNING",
        API_RATE_EVENTS="off",  # measure throughput, not the throttle
    )
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{args.port}",
            "-w",
            str(args.workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=1)
            return server
        except Exception:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not come up")


def ingest(args: argparse.Namespace, token: str, emails: list[str]) -> dict:
    url = f"http://127.0.0.1:{args.port}/api/v1/events/"
    batches = (args.events + args.batch - 1) // args.batch
    now = datetime.now(UTC)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    created = 0

    def body(batch_no: int) -> bytes:
        rng = random.Random(batch_no)
        size = min(args.batch, args.events - batch_no * args.batch)
        events = []
        for i in range(size):
            event_type, page = EVENT_TYPES[rng.randrange(len(EVENT_TYPES))]
            events.append(
                {
                    "id": f"b{batch_no}-{i}",
                    "lead": {"email": emails[rng.randrange(len(emails))]},
                    "type": event_type,
                    "occurred_at": (
                        now - timedelta(minutes=rng.randrange(60 * 24 * 60))
                    ).isoformat(),
                    "properties": {"url": page} if page else {},
                }
            )
        return json.dumps(events).encode()

    # The senders' bodies are built before the clock starts: producing them is the sender's
    # work, not ingest (on this 2-core machine it would otherwise take CPU from the server).
    bodies = [body(batch_no) for batch_no in range(batches)]

    def send(batch_no: int) -> tuple[float, int, int]:
        request = urllib.request.Request(
            url,
            data=bodies[batch_no],
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = json.loads(response.read())
            code = response.status
        return time.perf_counter() - started, code, payload["created"]

    hot_tables = ["scoring_engagementevent", "leads_lead", "scoring_scorehistory"]
    with autovacuum_stand_in(hot_tables, every=args.vacuum_every) as maintenance:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            for elapsed, code, made in pool.map(send, range(batches)):
                latencies.append(elapsed)
                statuses[code] = statuses.get(code, 0) + 1
                created += made
        wall = time.perf_counter() - started
    return {
        "events": args.events,
        "created": created,
        "batches": batches,
        "seconds": round(wall, 2),
        "events_per_second": round(args.events / wall),
        "request": summary_ms(latencies),
        "statuses": statuses,
        "vacuum": maintenance,
        "target_events_per_second": 10_000,
    }


def _rescore_worker(job_id: int) -> None:
    from scoring import services

    services.run_rescore_job(job_id=job_id)


def rescore(args: argparse.Namespace) -> dict:
    """Change one fit rule and time the whole rescore, with `--rescore-workers` processes
    sharing the job (as several Celery workers would)."""
    import multiprocessing

    from django.db import connection, connections

    from leads.models import Lead
    from scoring import services
    from scoring.models import RescoreJob, ScoringRule

    # After a million score updates the lead table is full of dead rows; in production
    # autovacuum would have cleaned them by the time someone edits a rule.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leads_lead")
        cursor.execute("VACUUM ANALYZE scoring_engagementevent")
    rule = ScoringRule.objects.filter(category="fit").order_by("pk").first()
    started = time.perf_counter()
    services.update_rule(rule=rule, by=None, points=rule.points + 1)
    job = RescoreJob.objects.latest("pk")
    connections.close_all()  # each forked worker opens its own connection
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_rescore_worker, args=(job.pk,)) for _ in range(args.rescore_workers)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    return {
        "leads": Lead.objects.count(),
        "rescored": job.done,
        "status": job.status,
        "workers": args.rescore_workers,
        "seconds": round(seconds, 2),
        "leads_per_second": round(job.done / seconds),
        "target_seconds": 15,
    }


def main() -> None:
    args = options()
    setup_django("plumb_bench_scoring")
    previous = Path(ROOT / "bench" / "results" / "scoring.json")
    if args.rescore_only and previous.exists():
        ingestion = json.loads(previous.read_text())["ingest"]
    else:
        token, emails = reset_and_fill(args)
        server = start_server(args)
        try:
            ingestion = ingest(args, token, emails)
            print(f"ingest: {ingestion['events_per_second']} events/s", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    rescoring = rescore(args)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM scoring_engagementevent")
        stored = cursor.fetchone()[0]
    write_results(
        "scoring",
        {
            "sizes": {
                "leads": args.leads,
                "rules": args.rules,
                "events": args.events,
                "batch": args.batch,
                "clients": args.clients,
                "gunicorn_workers": args.workers,
                "rescore_workers": args.rescore_workers,
            },
            "ingest": ingestion,
            "events_stored": stored,
            "rescore_after_rule_change": rescoring,
            "note": "client, gunicorn and PostgreSQL share one 2-core host.",
        },
    )


if __name__ == "__main__":
    main()
