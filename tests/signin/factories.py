from __future__ import annotations

import factory

from signin.models import DeviceSession


class DeviceSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeviceSession

    session_key = factory.Sequence(lambda n: f"testsession{n:020d}")
    ip = "10.0.0.1"
    user_agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"
