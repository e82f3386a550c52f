"""Outbound webhooks: subscriptions, the event outbox, deliveries and their attempt log.

An event row (`WebhookEvent`) and one delivery row per listening subscription
(`WebhookDelivery`) are written by the service that made the change, in its transaction (the
transactional outbox, webhooks.events). Workers claim due deliveries, POST them outside any
lock and record each attempt (`WebhookAttempt`, the delivery log); webhooks.delivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from crm import crypto
from crm.models import TimeStampedModel, User

# The event catalogue (README "Webhooks"): what a subscription may listen to.
EVENT_TYPES: dict[str, str] = {
    "lead.created": "A lead was created (import, API, form, engagement event).",
    "lead.updated": "A lead's fields changed; `previous` holds the old values.",
    "lead.stage_changed": "A lead moved in its lifecycle; `previous.stage` is where it came from.",
    "lead.assigned": "A lead got a new owner; `previous.owner` is the old one.",
    "opportunity.created": "A deal was created.",
    "opportunity.updated": "A deal's fields changed; `previous` holds the old values.",
    "opportunity.stage_changed": "A deal moved to another stage; `previous.stage` is the old one.",
    "opportunity.won": "A deal moved to its pipeline's won stage.",
    "opportunity.lost": "A deal moved to a lost stage (by hand or closed as stale).",
    "activity.created": "A call, e-mail, meeting, note or task was logged.",
    "form.submitted": "A web-to-lead form was submitted.",
}
# Marketing manages subscriptions to these only (leads and forms are theirs; deals are not).
MARKETING_EVENTS = frozenset(
    name for name in EVENT_TYPES if name.startswith("lead.") or name == "form.submitted"
)
# "Send test event": goes to one subscription, whatever it listens to.
TEST_EVENT = "webhook.test"
SECRET_PURPOSE = "plumb.webhooks.secrets"


class WebhookSubscriptionQuerySet(models.QuerySet["WebhookSubscription"]):
    def visible_to(self, user: User) -> WebhookSubscriptionQuerySet:
        """Admins see every subscription, marketing the ones they own, nobody else any."""
        if user.is_admin:
            return self
        if user.role == User.Role.MARKETING and user.is_active:
            return self.filter(owner=user)
        return self.none()


class WebhookSubscription(TimeStampedModel):
    """A URL that receives signed POSTs for the events it lists.

    Payloads only ever hold records `acting_user` may see, checked again at send time. The
    signing secret is stored encrypted (crm.crypto) and shown once; after a rotation the old
    one stays valid (and is signed with too) until `previous_secret_expires_at`.
    `failing_since` starts a run of failed attempts; a run spanning 3 days disables it.
    """

    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_subscriptions",
    )
    secret = models.CharField(max_length=400, editable=False)
    previous_secret = models.CharField(max_length=400, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)

    objects = WebhookSubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets to sign with now: the current one, then the previous one while it is
        still valid after a rotation."""
        secrets = [crypto.decrypt(self.secret, purpose=SECRET_PURPOSE)]
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and expires > now:
            secrets.append(crypto.decrypt(self.previous_secret, purpose=SECRET_PURPOSE))
        return secrets


class WebhookEvent(models.Model):
    """One change to one record, as its subscribers receive it. The id is the stable event id
    (`Plumb-Event-Id`): a retried or resent delivery carries the same one. `data` is
    `{"object": …, "previous": {…}}`, the record as it was right after the change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    record_type = models.CharField(max_length=100, blank=True)  # model label, "leads.lead"
    record_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"

    def envelope(self) -> dict[str, object]:
        """The JSON body a receiver gets."""
        return {
            "id": str(self.id),
            "type": self.type,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.data,
        }


class WebhookDeliveryQuerySet(models.QuerySet["WebhookDelivery"]):
    def visible_to(self, user: User) -> WebhookDeliveryQuerySet:
        """A delivery is seen by whoever sees its subscription."""
        return self.filter(subscription__in=WebhookSubscription.objects.visible_to(user))


class WebhookDelivery(models.Model):
    """One event for one subscription: the row is the promise, the worker keeps it.

    `pending` rows are due at `next_attempt_at` (also the claim's lease). Per subscription
    the deliveries of one record (`record_key`) go out in order: only the oldest pending one
    of a record is ever claimed. Unique per (subscription, event): at-least-once, never two
    rows for one event.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    FINAL: ClassVar[frozenset[str]] = frozenset({State.DELIVERED, State.FAILED, State.SKIPPED})

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    record_key = models.CharField(max_length=170)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    first_attempted_at = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhook_delivery_once")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=Q(state="pending"),
            ),
            # "Is an older delivery of this record still pending?" (the ordering rule).
            models.Index(
                fields=["subscription", "record_key", "id"],
                name="webhook_delivery_chain",
                condition=Q(state="pending"),
            ),
            models.Index(fields=["subscription", "-id"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.state})"


class WebhookAttempt(models.Model):
    """One try at one delivery, as the delivery log shows it: status, duration, the first
    characters of the answer, or why nothing was sent."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        RETRY = "retry", "Will retry"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["subscription", "-at"], name="webhook_attempt_log")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.outcome}"
