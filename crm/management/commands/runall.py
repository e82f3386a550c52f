"""manage.py runall: web server + Celery worker + Celery beat in one foreground command.

Ctrl-C (or SIGTERM) stops all three; if any one dies, the others are stopped too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _commands(*, host: str, port: int, concurrency: int) -> dict[str, list[str]]:
    """The three processes: web server, Celery worker, Celery beat (schedule under var/)."""
    python = sys.executable
    var = str(settings.VAR_DIR)
    return {
        "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "INFO",
            f"--concurrency={concurrency}",
            "-n",
            "worker@%h",
        ],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "INFO",
            "--schedule",
            os.path.join(var, "celerybeat-schedule"),
            "--pidfile",
            "",
        ],
    }


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args: Any, host: str, port: int, concurrency: int, **options: Any) -> None:
        if not port_is_free(host, port):
            raise CommandError(
                f"Port {port} is already in use: stop the other server or run `make run PORT={port + 1}`."
            )
        commands = _commands(host=host, port=port, concurrency=concurrency)
        var = str(settings.VAR_DIR)
        broker = "Redis" if settings.REDIS_URL else f"filesystem broker under {var}/broker"
        database = (
            "PostgreSQL"
            if settings.IS_POSTGRES
            else f"SQLite {settings.DATABASES['default']['NAME']}"
        )
        self.stdout.write(self.style.SUCCESS(f"Plumb is starting on http://{host}:{port}/"))
        self.stdout.write(f"  database: {database}; broker: {broker}")
        self.stdout.write(
            "  demo logins: admin, manager1, manager2, rep1 … rep12, marketing (password: demo)"
        )
        self.stdout.write("  Ctrl-C stops web, worker and beat.")
        procs = {
            name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()
        }

        def stop(*_: object) -> None:
            for proc in procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)

        def on_sigterm(*_: object) -> None:
            stop()
            sys.exit(0)

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            while True:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        stop()
                        raise CommandError(
                            f"The {name} process exited (code {proc.returncode}); stopped the others."
                        )
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping web, worker and beat…")
            stop()
