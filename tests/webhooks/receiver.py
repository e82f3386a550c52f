"""A real HTTP receiver on loopback for the webhook tests and the benchmark: a threaded
http.server on a free port that records every POST and answers what the test says."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# (status, headers, body) for one received POST
Answer = tuple[int, dict[str, str], bytes]


class Receiver:
    """Start with `start()` (or as a context manager); `stop()` closes the port, and
    `start()` again reopens the same one (a receiver that was down comes back up)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.received: list[Received] = []
        self.answer: Callable[[Received], Answer] = lambda request: (200, {}, b"ok")
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do
            disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms stall

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(dict(self.headers.items()), self.rfile.read(length), time.time())
                with receiver._lock:
                    receiver.received.append(request)
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, headers, body = receiver.answer(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def event_ids(self) -> list[str]:
        with self._lock:
            return [r.headers.get("Plumb-Event-Id", "") for r in self.received]
