"""Factories for the webhooks models (found by the attack matrix too)."""

from __future__ import annotations

import uuid

import factory
from django.utils import timezone

from crm import crypto
from tests.factories import UserFactory
from webhooks.models import (
    SECRET_PURPOSE,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

SECRET = "whsec_test_secret"


class WebhookSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    url = "https://hooks.invalid/plumb"
    events = factory.LazyFunction(lambda: ["lead.created"])
    owner = factory.SubFactory(UserFactory, role="admin")
    acting_user = factory.LazyAttribute(lambda s: s.owner)
    secret = factory.LazyFunction(lambda: crypto.encrypt(SECRET, purpose=SECRET_PURPOSE))


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEvent

    id = factory.LazyFunction(uuid.uuid4)
    type = "webhook.test"
    data = factory.LazyFunction(lambda: {"object": {"object": "webhook_test"}, "previous": {}})
    created_at = factory.LazyFunction(timezone.now)


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    subscription = factory.SubFactory(WebhookSubscriptionFactory)
    event = factory.SubFactory(WebhookEventFactory)
    record_key = factory.LazyAttribute(lambda d: f":{d.event.id}")
    next_attempt_at = factory.LazyFunction(timezone.now)
    created_at = factory.LazyFunction(timezone.now)
