"""Webhook delivery throughput: 20,000 lead.created events (20 imports of 1,000 leads)
delivered by 2 Celery worker processes to a local receiver, on PostgreSQL + Redis.

Two phases. Throughput: the 20,000 events are committed as fast as the imports go, and
deliveries/s is events over the time from the first import's commit to the last receipt.
Latency: then a steady load (`--rate` events/s, default 300, for `--seconds`, default 20, in
imports every 0.1 s) and commit → receipt p50/p95/max of those events (a burst's latency is
only its queue: 20,000 at once wait 20,000 / rate seconds, whatever the code). Beside them a
ceiling measured in the same run: raw signed POSTs of the same bodies to the same receiver
from 2 processes, no database. Targets (issue 17): ≥ 500 deliveries/s, p95 ≤ 2 s.

    .venv/bin/python bench/webhooks.py [--scale 0.02] [--batch 1000]

Needs Redis (REDIS_URL, default the local server's db 14: the workers' broker) and PostgreSQL (DATABASE_URL's server; the database is
plumb_bench_webhooks). The receiver runs in its own process (this script with --serve).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, setup_django, summary_ms, write_results

EVENTS = 20_000


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 20,000 events")
    parser.add_argument("--batch", type=int, default=1000, help="leads per import")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--rate", type=int, default=300, help="latency phase: events/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency phase length")
    parser.add_argument("--serve", nargs=2, metavar=("PORT_FILE", "OUT"), help=argparse.SUPPRESS)
    return parser.parse_args()


def serve(port_file: str, out: str) -> None:
    """The receiver process: answer 200 to every POST, write (event id, arrival) on SIGTERM."""
    from tests.webhooks.receiver import Receiver

    receiver = Receiver().start()
    Path(port_file).write_text(str(receiver.port))

    def finish(*_: object) -> None:
        receipts = [(r.headers.get("Plumb-Event-Id", ""), r.at) for r in receiver.received]
        Path(out).write_text(json.dumps(receipts))
        receiver.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    while True:
        time.sleep(3600)


def start_receiver(tmp: Path) -> tuple[subprocess.Popen, int, Path]:
    port_file, out = tmp / "port", tmp / "receipts.json"
    port_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port_file), str(out)], cwd=ROOT
    )
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline:
            raise SystemExit("the receiver did not start")
        time.sleep(0.05)
    return process, int(port_file.read_text()), out


def stop_receiver(process: subprocess.Popen, out: Path) -> list[tuple[str, float]]:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return [(event_id, at) for event_id, at in json.loads(out.read_text())]


def _post_many(job: tuple[str, list[bytes]]) -> int:
    """One ceiling client: signed POSTs over one keep-alive connection."""
    import httpx

    from webhooks import signing

    url, bodies = job
    with httpx.Client(timeout=10, trust_env=False) as client:
        for body in bodies:
            headers = signing.headers(
                event_id=str(uuid.uuid4()),
                secrets=["whsec_bench"],
                body=body,
                timestamp=int(time.time()),
            )
            client.post(url, content=body, headers={**headers, "Content-Type": "application/json"})
    return len(bodies)


def ceiling(url: str, bodies: list[bytes], clients: int) -> float:
    """Raw POSTs/s of the same bodies to the same receiver, `clients` processes, no database."""
    shares = [(url, bodies[i::clients]) for i in range(clients)]
    with Pool(clients) as pool:
        started = time.perf_counter()
        sent = sum(pool.map(_post_many, shares))
        return sent / (time.perf_counter() - started)


def start_workers(queue: str, workers: int) -> subprocess.Popen:
    env = {**os.environ, "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue]
    command += ["-c", str(workers), "-P", "prefork", "-l", "warning", "--without-heartbeat"]
    command += ["--without-mingle", "--without-gossip", "-n", f"{queue}@%h"]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def main() -> None:
    args = options()
    if args.serve:
        serve(*args.serve)
        return
    # The workers need a real broker: Redis (REDIS_URL, else the local server's db 14).
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
    setup_django(os.environ.get("BENCH_DB", "plumb_bench_webhooks"))
    from django.db.models import Max, Min

    from crm.models import User
    from leads.importing.service import import_leads
    from leads.models import Lead
    from webhooks import events, services
    from webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
    from webhooks.tasks import deliver_webhooks_task

    total = max(args.batch, round(EVENTS * args.scale))
    batches = max(1, total // args.batch)
    total = batches * args.batch
    # A clean slate each run (the bench database is ours alone).
    WebhookSubscription.objects.all().delete()
    WebhookEvent.objects.all().delete()
    Lead.objects.all().delete()
    admin, _ = User.objects.get_or_create(username="bench_hooks", defaults={"role": "admin"})
    tmp = ROOT / "var" / "bench_webhooks"
    tmp.mkdir(parents=True, exist_ok=True)
    receiver, port, out = start_receiver(tmp)
    url = f"http://127.0.0.1:{port}/hooks"
    queue = f"bench-webhooks-{uuid.uuid4().hex[:6]}"
    from django.conf import settings

    from config.celery import app

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    events.kick_delivery = lambda: deliver_webhooks_task.apply_async(queue=queue)  # type: ignore[assignment]
    services.create_subscription(by=admin, url=url, events=["lead.created"])
    workers = start_workers(queue, args.workers)
    commits: dict[int, float] = {}

    def commit(batch: int, size: int) -> None:
        records = [{"email": f"hook{batch}x{i}@bench{i % 500}.example"} for i in range(size)]
        import_leads(records=records, match_on="email", by=admin)
        commits[batch] = time.time()

    def drained() -> None:
        deadline = time.monotonic() + 600
        while WebhookDelivery.objects.exclude(state="delivered").exists():
            if time.monotonic() > deadline:
                raise SystemExit("deliveries did not finish within 10 minutes")
            time.sleep(0.1)

    steady = max(1, round(args.rate / 10))  # events per import in the latency phase
    steady_batches = max(10, round(args.seconds * args.scale * 10))
    try:
        time.sleep(3)  # the worker boots before the clock starts
        for b in range(batches):
            commit(b, args.batch)
        drained()
        for b in range(batches, batches + steady_batches):
            next_tick = time.monotonic() + 0.1
            commit(b, steady)
            time.sleep(max(0.0, next_tick - time.monotonic()))
        drained()
    finally:
        os.killpg(workers.pid, signal.SIGTERM)
        workers.wait(timeout=60)
        with app.connection_for_write() as broker:
            broker.default_channel.queue_delete(queue)
    sample = [
        json.dumps(e.envelope(), separators=(",", ":")).encode()
        for e in WebhookEvent.objects.all()[: min(total, 5000)]
    ]
    raw_per_s = ceiling(url, sample, args.workers)
    receipts = stop_receiver(receiver, out)
    batch_of = {
        str(pk): int(email.split("x", 1)[0][4:])
        for pk, email in WebhookEvent.objects.values_list("pk", "data__object__email")
    }
    first = {}
    for event_id, at in receipts:
        if event_id in batch_of:
            first.setdefault(event_id, at)
    burst = [at for event_id, at in first.items() if batch_of[event_id] < batches]
    latencies = [
        at - commits[batch_of[event_id]]
        for event_id, at in first.items()
        if batch_of[event_id] >= batches
    ]
    span = max(burst) - commits[0]
    ours = sum(1 for event_id, _ in receipts if event_id in batch_of)
    attempts = WebhookDelivery.objects.aggregate(a=Max("attempts"), b=Min("attempts"))
    write_results(
        "webhooks",
        {
            "sizes": {"events": total, "imports": batches, "worker_processes": args.workers},
            "delivered_events": len(first),
            "duplicate_receipts": ours - len(first),
            "deliveries_per_s": round(len(burst) / span),
            "latency_phase": {"events_per_s": steady * 10, "events": len(latencies)},
            "commit_to_receipt": summary_ms(latencies),
            "ceiling_raw_posts_per_s": round(raw_per_s),
            "attempts_per_delivery": attempts,
            "targets": {"deliveries_per_s": 500, "p95_ms": 2000},
        },
    )


if __name__ == "__main__":
    main()
