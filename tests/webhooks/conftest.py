from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A real receiver on a loopback port; loopback targets allowed, as in development."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with Receiver() as running:
        yield running


@pytest.fixture
def public_hooks_host(monkeypatch):
    """hooks.example.com resolves to a public address (the tests have no DNS)."""
    from webhooks import targets

    real = targets.resolve

    def resolve(host, port):
        return ["93.184.216.34"] if host == "hooks.example.com" else real(host, port)

    monkeypatch.setattr(targets, "resolve", resolve)
