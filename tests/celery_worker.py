"""A real Celery worker for the tests that need one: its own process group on its own queue,
on the test database, stopped (SIGKILL) by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """The test database, as a DATABASE_URL a worker process can use."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(queue: str, *, concurrency: int = 3, **env: str) -> subprocess.Popen[bytes]:
    """`celery worker -Q queue` on the test database (extra settings in `env`)."""
    environment = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DEBUG": "true",
        "EMAIL_URL": "console://",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "-c",
            str(concurrency),
            "-P",
            "prefork",
            "-l",
            "warning",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: we can kill it with its pool
    )


def pool_pids(worker: subprocess.Popen[bytes]) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(worker.pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(pid) for pid in out.split()]


def kill(worker: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL the worker and its pool (the whole process group), if still running."""
    if worker is not None and worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


def wait_for(predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def delete_queue(app: object, queue: str) -> None:
    with app.connection_for_write() as broker:  # type: ignore[attr-defined]
        broker.default_channel.queue_delete(queue)
