"""Reads for the Webhooks pages and API: subscriptions and their delivery log, always from
`WebhookSubscription.objects.visible_to(user)`."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from crm.models import User
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


def subscription_list(*, user: User) -> QuerySet[WebhookSubscription]:
    """The subscriptions `user` may manage, with their acting user and owner and how many
    deliveries wait (one query)."""
    return (
        WebhookSubscription.objects.visible_to(user)
        .select_related("acting_user", "owner")
        .annotate(
            pending=Count("deliveries", filter=Q(deliveries__state=WebhookDelivery.State.PENDING))
        )
        .order_by("pk")
    )


def delivery_list(*, subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    """One subscription's deliveries, newest first, with their event (one query a page)."""
    return (
        WebhookDelivery.objects.filter(subscription=subscription)
        .select_related("event")
        .order_by("-pk")
    )


def attempt_log(*, subscription: WebhookSubscription, limit: int = 100) -> list[WebhookAttempt]:
    """The subscription's latest attempts, newest first, with their delivery and event
    (one query): the delivery log page."""
    return list(
        WebhookAttempt.objects.filter(subscription=subscription)
        .select_related("delivery__event")
        .order_by("-at", "-pk")[:limit]
    )
