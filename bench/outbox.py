"""Outbox throughput: 10,000 queued messages sent to a local SMTP sink by 2 worker processes.

Reports messages/s from the first claim to the last recorded answer, and the share of SMTP
connections reused (1 − connections / messages: one connection per batch of 100 gives 0.99).
Beside it, the ceiling measured in the same run: raw smtplib to the same sink, the same number
of processes, one connection each, no database. Target: ≥ 300 messages/s.

    .venv/bin/python bench/outbox.py [--scale 0.02] [--workers 2] [--batch 100]
"""

from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import setup_django, write_results

MESSAGES = 10_000
TARGET = 300


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 10,000 messages")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    return parser.parse_args()


# --- the sink: its own process, counting what it is given ---------------------------------------


def sink_process(port: int, counters: Any, ready: Any, stop: Any) -> None:
    """aiosmtpd on 127.0.0.1:port; counts messages and connections (EHLOs), keeps nothing."""
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # one line per command otherwise

    class Counting:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            with counters["connections"].get_lock():
                counters["connections"].value += 1
            session.host_name = hostname
            return responses

        async def handle_DATA(self, server, session, envelope):
            with counters["messages"].get_lock():
                counters["messages"].value += 1
            return "250 2.0.0 Ok: queued"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port, server_hostname="sink")
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


# --- the outbox's senders -------------------------------------------------------------------------


def sender(port: int, batch: int, barrier: Any) -> None:
    from django.conf import settings
    from django.db import connections

    from crm import outbox

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    barrier.wait()
    outbox.send_all_due(limit=batch, max_seconds=3600)
    connections.close_all()


def raw_sender(port: int, count: int, data: bytes, barrier: Any) -> None:
    """The ceiling: smtplib over one connection, nothing else."""
    barrier.wait()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for n in range(count):
            client.sendmail("plumb@localhost", [f"user{n}@bench.example"], data)


def run_processes(target: Any, args_per: list[tuple[Any, ...]]) -> float:
    barrier = multiprocessing.Barrier(len(args_per) + 1)
    processes = [multiprocessing.Process(target=target, args=(*a, barrier)) for a in args_per]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a sender failed (exit {process.exitcode})")
    return time.perf_counter() - started


def queue_messages(count: int) -> bytes:
    """`count` rendered messages in the outbox (in batches of 1,000, as a sweep would write
    them); returns one of them as bytes, for the ceiling."""
    from django.db import connection

    from crm import outbox
    from crm.models import OutboxMessage
    from crm.outbox import compose, transport
    from crm.outbox.render import templated

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_outboxmessage CASCADE")  # a bench database of its own
    # No kick: the benchmark starts the senders itself.
    compose.kick_sender = lambda: None
    for start in range(0, count, 1000):
        outbox.enqueue_many(
            [
                templated(
                    kind="bench",
                    template="email/notification",
                    subject=f"New lead: Bench {n}",
                    context={"message": f"New lead: Bench {n}", "link": "", "created_at": None},
                    to=[f"user{n}@bench.example"],
                )
                for n in range(start, min(start + 1000, count))
            ]
        )
    sample = OutboxMessage.objects.order_by("pk").first()
    assert sample is not None
    return bytes(transport.build_message(sample).message().as_bytes(linesep="\r\n"))


def main() -> None:
    args = options()
    count = max(args.workers, round(MESSAGES * args.scale))
    setup_django("plumb_bench_outbox")
    from django.db import connections

    from crm.models import OutboxMessage
    from tests.smtp_sink import free_port

    port = free_port()
    counters = {
        "messages": multiprocessing.Value("i", 0),
        "connections": multiprocessing.Value("i", 0),
    }
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    sink = multiprocessing.Process(target=sink_process, args=(port, counters, ready, stop))
    sink.start()
    ready.wait(30)
    try:
        data = queue_messages(count)
        connections.close_all()  # the senders are forked: each opens its own
        seconds = run_processes(sender, [(port, args.batch)] * args.workers)
        sent = OutboxMessage.objects.filter(status="sent").count()
        received, opened = counters["messages"].value, counters["connections"].value
        counters["messages"].value = counters["connections"].value = 0
        share = [count // args.workers + (i < count % args.workers) for i in range(args.workers)]
        raw_seconds = run_processes(raw_sender, [(port, n, data) for n in share])
        raw_received = counters["messages"].value
    finally:
        stop.set()
        sink.join(30)
    rate, ceiling = sent / seconds, raw_received / raw_seconds
    write_results(
        "outbox",
        {
            "messages": count,
            "workers": args.workers,
            "batch": args.batch,
            "scale": args.scale,
            "sent": sent,
            "received_by_sink": received,
            "seconds": round(seconds, 2),
            "messages_per_s": round(rate, 1),
            "smtp_connections": opened,
            "connections_reused_share": round(1 - opened / max(received, 1), 4),
            "ceiling_raw_smtplib_messages_per_s": round(ceiling, 1),
            "share_of_ceiling": round(rate / ceiling, 3),
            "target_messages_per_s": TARGET,
            "meets_target": rate >= TARGET,
        },
    )
    if sent != count:
        raise SystemExit(f"only {sent} of {count} messages were sent")


if __name__ == "__main__":
    main()
