from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver(settings):
    """A real receiver on a loopback port; loopback targets allowed, as in development."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with Receiver() as running:
        yield running
