"""Factories of the activities app's e-mail models (the attack matrix finds them here)."""

from __future__ import annotations

import factory
from django.utils import timezone

from activities.models import Activity, EmailMessage, EmailTemplate
from tests.factories import ActivityFactory, UserFactory


class EmailTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    subject = "Hello {{ lead.first_name }}"
    body = "Hi {{ lead.first_name }},\n\n{{ sender.first_name }}"
    owner = factory.SubFactory(UserFactory)


class EmailMessageFactory(factory.django.DjangoModelFactory):
    """An e-mail on a timeline (no outbox row: send real ones with activities.emails)."""

    class Meta:
        model = EmailMessage

    activity = factory.SubFactory(ActivityFactory, kind=Activity.Kind.EMAIL)
    direction = EmailMessage.Direction.OUTBOUND
    message_id = factory.Sequence(lambda n: f"<plumb.factory{n}@localhost>")
    from_address = "Plumb CRM <plumb@localhost>"
    to = factory.Sequence(lambda n: [f"someone{n}@example.com"])
    sent_at = factory.LazyFunction(timezone.now)
    subject = factory.Sequence(lambda n: f"E-mail {n}")
    text_body = "Hello"
