"""pytest fixtures (a plugin, see tests/conftest.py): the test OpenID Connect provider as a
real server process on loopback, and a provider configured in Plumb for it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from allauth.socialaccount.models import SocialApp

from tests.oidc_provider import control
from tests.oidc_provider.serve import CLIENT_ID, CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Provider:
    url: str
    folder: Path

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def act(self, **values: Any) -> None:
        """Who the provider says is signed in, and how it misbehaves (control.DEFAULT keys)."""
        control.write(self.folder, **values)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oidc_provider")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["PYTHONPATH"] = str(ROOT)
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.oidc_provider.serve",
            "--port",
            str(port),
            "--dir",
            str(folder),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/health/", timeout=1).ok:
                break
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((folder / "server.log").read_text())
        time.sleep(0.2)
    yield Provider(url=url, folder=folder)
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture
def oidc(oidc_server, db):
    """The provider (acting normally, for rep_alice@example.com) and its app in Plumb."""
    oidc_server.act()
    SocialApp.objects.create(
        provider="openid_connect",
        provider_id="test",
        name="Test IdP",
        client_id=CLIENT_ID,
        secret=CLIENT_SECRET,
        settings={"server_url": oidc_server.issuer},
    )
    yield oidc_server
    oidc_server.act()
