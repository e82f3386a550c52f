"""Webhook subscriptions: create, edit, delete, rotate the secret, send a test event,
resend a delivery, and purge the old log. Who may do what: admins everything; marketing
their own subscriptions to lead and form events, acting as themselves."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm import crypto
from crm.audit import diff, record
from crm.models import User
from crm.permissions import is_admin, is_marketing_or_admin
from webhooks import targets
from webhooks.events import kick_delivery, write_events
from webhooks.models import (
    EVENT_TYPES,
    MARKETING_EVENTS,
    SECRET_PURPOSE,
    TEST_EVENT,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

ROTATION_GRACE = timedelta(hours=24)
LOG_RETENTION = timedelta(days=30)
EDITABLE = ("url", "events", "is_active", "acting_user")


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def allowed_events(user: User) -> list[str]:
    """The event types `user` may subscribe to, in catalogue order."""
    if is_admin(user):
        return list(EVENT_TYPES)
    if is_marketing_or_admin(user):
        return [name for name in EVENT_TYPES if name in MARKETING_EVENTS]
    return []


def acting_users(user: User) -> list[User]:
    """Whom `user` may let a subscription act as: admins any active user, marketing only
    themselves (a subscription never sees more than the person who set it up)."""
    if is_admin(user):
        return list(User.objects.filter(is_active=True).order_by("username"))
    return [user] if is_marketing_or_admin(user) else []


def clean_subscription(*, by: User, values: dict[str, Any]) -> dict[str, Any]:
    """Check the given fields (url, events, is_active, acting_user); ValidationError with
    every field's message, nothing written."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if unknown := set(values) - set(EDITABLE):
        errors["detail"] = [f"Unknown field(s): {', '.join(sorted(unknown))}."]
    if "url" in values:
        try:
            clean["url"] = targets.validate_url(str(values["url"] or ""))
        except targets.UnsafeTarget as error:
            errors["url"] = [str(error)]
    if "events" in values:
        events = values["events"]
        allowed = allowed_events(by)
        if not isinstance(events, list | tuple) or not events:
            errors["events"] = ["Choose at least one event."]
        elif bad := sorted({str(e) for e in events} - set(allowed)):
            errors["events"] = [f"Not an event you may subscribe to: {', '.join(bad)}."]
        else:
            clean["events"] = [name for name in allowed if name in set(events)]
    if "acting_user" in values:
        user = values["acting_user"]
        if not isinstance(user, User) or user.pk not in {u.pk for u in acting_users(by)}:
            errors["acting_user"] = ["You cannot let a subscription act as that user."]
        else:
            clean["acting_user"] = user
    if "is_active" in values:
        clean["is_active"] = bool(values["is_active"])
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def create_subscription(
    *,
    by: User,
    url: str,
    events: list[str],
    acting_user: User | None = None,
    is_active: bool = True,
) -> tuple[WebhookSubscription, str]:
    """Create a subscription owned by `by`; returns (row, secret). The secret is shown this
    once and stored encrypted."""
    clean = clean_subscription(
        by=by,
        values={
            "url": url,
            "events": events,
            "acting_user": acting_user or by,
            "is_active": is_active,
        },
    )
    secret = new_secret()
    subscription = WebhookSubscription.objects.create(
        **clean, owner=by, secret=crypto.encrypt(secret, purpose=SECRET_PURPOSE)
    )
    record(
        actor=by,
        action="webhook.create",
        target=subscription,
        changes={"url": [None, subscription.url], "events": [None, subscription.events]},
    )
    return subscription, secret


@transaction.atomic
def update_subscription(
    *, subscription: WebhookSubscription, by: User, values: dict[str, Any]
) -> WebhookSubscription:
    """Change the given fields. Switching a subscription (back) on ends its failure run and
    clears why it was switched off. The row is locked: concurrent edits serialise."""
    clean = clean_subscription(by=by, values=values)
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    before = {name: getattr(locked, name) for name in clean}
    for name, value in clean.items():
        setattr(locked, name, value)
    if clean.get("is_active") and not before.get("is_active", True):
        locked.failing_since, locked.disabled_at, locked.disabled_reason = None, None, ""
    locked.save()
    changes = diff(before, {name: getattr(locked, name) for name in clean})  # users as ids
    record(actor=by, action="webhook.update", target=locked, changes=changes)
    if clean.get("is_active"):
        transaction.on_commit(kick_delivery)  # what waited while it was off goes out now
    return locked


@transaction.atomic
def delete_subscription(*, subscription: WebhookSubscription, by: User) -> None:
    """Delete it with its pending deliveries and log (events other subscriptions still
    have stay)."""
    record(actor=by, action="webhook.delete", target=subscription, changes={})
    subscription.delete()


@transaction.atomic
def rotate_secret(
    *, subscription: WebhookSubscription, by: User
) -> tuple[WebhookSubscription, str]:
    """A new secret, shown once; the old one keeps signing (both signatures sent) for 24 h,
    so receivers can switch over without losing an event."""
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    secret = new_secret()
    locked.previous_secret = locked.secret
    locked.previous_secret_expires_at = timezone.now() + ROTATION_GRACE
    locked.secret = crypto.encrypt(secret, purpose=SECRET_PURPOSE)
    locked.save()
    record(actor=by, action="webhook.rotate_secret", target=locked, changes={})
    return locked, secret


@transaction.atomic
def send_test_event(*, subscription: WebhookSubscription, by: User) -> WebhookEvent:
    """Queue a `webhook.test` event for this subscription alone (signed and logged like any
    other). Refused for a subscription that is switched off."""
    if not subscription.is_active:
        raise ValidationError({"is_active": "Switch the subscription on to send a test event."})
    now = timezone.now()
    event_id = uuid.uuid4()
    data = {
        "object": {
            "object": "webhook_test",
            "subscription": subscription.pk,
            "message": f"A test event sent by {by}.",
        },
        "previous": {},
    }
    write_events(
        event=TEST_EVENT,
        record_type="",
        rows=[(event_id, event_id.hex, data)],
        subscription_ids=[subscription.pk],
        now=now,
    )
    return WebhookEvent.objects.get(pk=event_id)


@transaction.atomic
def resend_delivery(*, delivery: WebhookDelivery, by: User) -> bool:
    """Send a finished delivery again (same event id) with a fresh 24-hour retry window.
    A pending one is already on its way: False, nothing changed."""
    resent = (
        WebhookDelivery.objects.filter(pk=delivery.pk)
        .exclude(state=WebhookDelivery.State.PENDING)
        .update(
            state=WebhookDelivery.State.PENDING,
            next_attempt_at=timezone.now(),
            first_attempted_at=None,
            delivered_at=None,
        )
    )
    if resent:
        record(
            actor=by,
            action="webhook.resend",
            target=delivery.subscription,
            changes={"event": str(delivery.event_id)},
        )
        transaction.on_commit(kick_delivery)
    return bool(resent)


def purge_webhook_log(*, now: datetime, batch: int = 1000) -> int:
    """Delete events older than 30 days that no subscription still has to deliver (their
    deliveries and attempts go with them), in batches. Idempotent."""
    deleted = 0
    old = WebhookEvent.objects.filter(created_at__lt=now - LOG_RETENTION).exclude(
        deliveries__state=WebhookDelivery.State.PENDING
    )
    while ids := list(old.values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            WebhookEvent.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted
