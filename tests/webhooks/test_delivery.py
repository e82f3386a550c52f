"""Deliveries to a real HTTP receiver on loopback: signatures, retries, final answers,
ordering, the acting user's scope at send time."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Notification
from leads.importing.service import import_leads
from leads.models import Lead
from leads.services import transition_lead, update_lead
from pipeline import services as pipeline_services
from tests.factories import LeadFactory, OpportunityFactory, PipelineFactory
from webhooks import delivery, services, signing
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

pytestmark = pytest.mark.django_db


def _subscribe(by, url, events=("lead.created",), **kwargs):
    return services.create_subscription(by=by, url=url, events=list(events), **kwargs)


def _drain(now=None, rounds=20):
    """Delivery passes until nothing is due at `now`."""
    total = 0
    for _ in range(rounds):
        counts = delivery.deliver_due(now=now or timezone.now())
        if not counts["claimed"]:
            break
        total += counts["claimed"]
    return total


def _import(by, count, prefix="lead"):
    records = [{"email": f"{prefix}{i}@acme{i}.example"} for i in range(count)]
    return import_leads(records=records, match_on="email", by=by)


def test_signatures_verify_with_the_documented_recipe(receiver, marketing):
    # given a subscription to lead.created and three imported leads
    subscription, secret = _subscribe(marketing, receiver.url)
    _import(marketing, 3)
    # when a worker delivers
    _drain()
    # then each POST carries the event id, a timestamp and a v1 HMAC of "{timestamp}.{body}"
    assert len(receiver.received) == 3
    for request in receiver.received:
        body, headers = request.body, request.headers
        expected = hmac.new(
            secret.encode(), f"{headers['Plumb-Timestamp']}.".encode() + body, hashlib.sha256
        ).hexdigest()
        assert headers["Plumb-Signature"] == f"v1={expected}"
        assert signing.verify(
            secret=secret,
            body=body,
            timestamp=headers["Plumb-Timestamp"],
            header=headers["Plumb-Signature"],
        )
        payload = json.loads(body)
        assert payload["id"] == headers["Plumb-Event-Id"]
        assert payload["type"] == "lead.created"
        assert set(payload) == {"id", "type", "created_at", "data"}
        assert payload["data"]["object"]["object"] == "lead"
        assert payload["data"]["previous"] == {}
        assert headers["Content-Type"] == "application/json"
    emails = sorted(r.json["data"]["object"]["email"] for r in receiver.received)
    assert emails == ["lead0@acme0.example", "lead1@acme1.example", "lead2@acme2.example"]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}
    attempts = WebhookAttempt.objects.filter(subscription=subscription)
    assert (
        sorted(attempts.values_list("status_code", "outcome", "number"))
        == [(200, "delivered", 1)] * 3
    )
    assert attempts.first().response_excerpt == "ok"


def test_a_tampered_body_or_another_secret_does_not_verify(receiver, marketing):
    _, secret = _subscribe(marketing, receiver.url)
    _import(marketing, 1)
    _drain()
    request = receiver.received[0]
    stamp, header = request.headers["Plumb-Timestamp"], request.headers["Plumb-Signature"]
    assert not signing.verify(
        secret=secret, body=request.body + b" ", timestamp=stamp, header=header
    )
    assert not signing.verify(
        secret="whsec_other", body=request.body, timestamp=stamp, header=header
    )
    old = str(int(stamp) - 3600)
    assert not signing.verify(secret=secret, body=request.body, timestamp=old, header=header)


def test_after_a_rotation_both_secrets_sign_for_24_hours(receiver, admin_user):
    subscription, old_secret = _subscribe(admin_user, receiver.url)
    subscription, new_secret = services.rotate_secret(subscription=subscription, by=admin_user)
    _import(admin_user, 1)
    _drain()
    request = receiver.received[0]
    header, stamp = request.headers["Plumb-Signature"], request.headers["Plumb-Timestamp"]
    assert header.count("v1=") == 2
    for secret in (new_secret, old_secret):
        assert signing.verify(secret=secret, body=request.body, timestamp=stamp, header=header)
    # a day later only the new secret signs
    later = timezone.now() + timedelta(hours=24, seconds=1)
    assert len(WebhookSubscription.objects.get(pk=subscription.pk).signing_secrets(later)) == 1


def test_receiver_down_for_a_while_then_up_gets_everything(receiver, marketing):
    # given a receiver that is down (its port closed)
    _subscribe(marketing, receiver.url)
    receiver.stop()
    _import(marketing, 5)
    now = timezone.now()
    # when a pass finds it down: one attempt fails, the other four wait with it
    delivery.deliver_due(now=now)
    rows = WebhookDelivery.objects.all()
    assert sorted(rows.values_list("attempts", flat=True)) == [0, 0, 0, 0, 1]
    assert set(rows.values_list("state", flat=True)) == {"pending"}
    assert WebhookAttempt.objects.get().outcome == "retry"
    assert "Connection failed" in WebhookAttempt.objects.get().error
    assert delivery.deliver_due(now=now)["claimed"] == 0  # backing off
    # then it comes back, and the next passes deliver everything, once each
    receiver.start()
    _drain(now=now + timedelta(minutes=5))
    assert set(rows.values_list("state", flat=True)) == {"delivered"}
    assert sorted(receiver.event_ids()) == sorted(
        str(pk) for pk in rows.values_list("event_id", flat=True)
    )


def test_410_is_final_and_not_retried(receiver, marketing):
    receiver.answer = lambda request: (410, {}, b"gone")
    _subscribe(marketing, receiver.url)
    _import(marketing, 1)
    _drain()
    row = WebhookDelivery.objects.get()
    assert (row.state, row.attempts, row.last_status_code) == ("failed", 1, 410)
    assert "not retried" in row.last_error
    assert _drain(now=timezone.now() + timedelta(days=2)) == 0
    assert len(receiver.received) == 1


def test_429_retry_after_is_honoured(receiver, marketing):
    answers = iter([(429, {"Retry-After": "120"}, b"slow down")])
    receiver.answer = lambda request: next(answers, (200, {}, b"ok"))
    _subscribe(marketing, receiver.url)
    _import(marketing, 1)
    now = timezone.now()
    delivery.deliver_due(now=now)
    row = WebhookDelivery.objects.get()
    assert row.state == "pending"
    assert row.next_attempt_at >= now + timedelta(seconds=120)
    assert delivery.deliver_due(now=now + timedelta(seconds=100))["claimed"] == 0
    delivery.deliver_due(now=now + timedelta(seconds=121))
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("delivered", 2)
    assert len(receiver.received) == 2


def test_5xx_backs_off_exponentially_and_gives_up_after_24_hours(receiver, marketing):
    receiver.answer = lambda request: (503, {}, b"busy")
    _subscribe(marketing, receiver.url)
    _import(marketing, 1)
    now, waits = timezone.now(), []
    row = WebhookDelivery.objects.get()
    while row.state == "pending":
        delivery.deliver_due(now=now)
        row.refresh_from_db()
        waits.append((row.next_attempt_at - now).total_seconds())
        now = row.next_attempt_at
    assert row.state == "failed"
    assert "Gave up after 24 hours" in row.last_error
    assert now - row.first_attempted_at >= timedelta(hours=24)
    # jittered exponential steps: 5–10 s, 10–20 s, 20–40 s … capped at an hour
    assert 5 <= waits[0] <= 10
    assert 10 <= waits[1] <= 20
    assert max(waits) <= 3600
    assert row.attempts == len(waits) == WebhookAttempt.objects.count()


def test_a_redirect_is_not_followed(receiver, marketing):
    receiver.answer = lambda request: (301, {"Location": "http://127.0.0.1:9/elsewhere"}, b"")
    _subscribe(marketing, receiver.url)
    _import(marketing, 1)
    _drain()
    row = WebhookDelivery.objects.get()
    assert (row.state, row.last_status_code) == ("failed", 301)
    assert "redirects are not followed" in row.last_error
    assert len(receiver.received) == 1


def test_events_of_one_record_arrive_in_order(receiver, marketing, rep):
    # given the first event of a lead fails once
    failures = iter([(503, {}, b"")])
    receiver.answer = lambda request: next(failures, (200, {}, b"ok"))
    _subscribe(
        marketing, receiver.url, events=["lead.created", "lead.updated", "lead.stage_changed"]
    )
    _import(marketing, 1)
    lead = Lead.objects.get()
    update_lead(lead=lead, by=marketing, data={"company": "Initech"})
    transition_lead(lead=lead, to=Lead.Lifecycle.MQL, by=marketing)
    now = timezone.now()
    # when passes run while the first one is backing off
    delivery.deliver_due(now=now)
    assert _drain(now=now) == 0  # the later two wait behind the first
    _drain(now=now + timedelta(minutes=1))
    # then they arrived in the order they happened, the first twice
    types = [r.json["type"] for r in receiver.received]
    assert types == ["lead.created", "lead.created", "lead.updated", "lead.stage_changed"]
    updated, moved = receiver.received[2].json["data"], receiver.received[3].json["data"]
    assert updated["previous"] == {"company": ""}
    assert updated["object"]["company"] == "Initech"
    assert (moved["previous"], moved["object"]["stage"]) == ({"stage": "new"}, "mql")


def test_a_subscription_acting_as_rep1_never_receives_another_teams_deal(
    receiver, admin_user, rep, other_rep
):
    # given an admin's subscription acting as rep1 (rep_alice, team A)
    events = ["opportunity.created", "opportunity.updated", "opportunity.won"]
    _subscribe(admin_user, receiver.url, events=events, acting_user=rep)
    pipeline = PipelineFactory()
    own = pipeline_services.create_opportunity(by=rep, name="Alice's deal", pipeline=pipeline)
    foreign = pipeline_services.create_opportunity(
        by=other_rep, name="Bob's deal", pipeline=pipeline
    )
    # and a deal of rep1's that moves to the other team before the send
    moved = pipeline_services.create_opportunity(by=rep, name="Handed over", pipeline=pipeline)
    type(moved).objects.filter(pk=moved.pk).update(owner=other_rep)
    # when everything is delivered
    _drain()
    # then only what rep1 may see at send time went out
    names = [r.json["data"]["object"]["name"] for r in receiver.received]
    assert names == ["Alice's deal"]
    assert "Bob's deal" not in b"".join(r.body for r in receiver.received).decode()
    skipped = WebhookDelivery.objects.filter(state="skipped")
    assert {d.event.record_id for d in skipped} == {str(foreign.pk), str(moved.pk)}
    assert set(
        WebhookAttempt.objects.filter(outcome="skipped").values_list("error", flat=True)
    ) == {"Not visible to the acting user."}
    assert own.pk


def test_a_target_resolving_to_127_0_0_1_is_refused_without_the_flag(receiver, marketing, settings):
    # given a subscription to the loopback receiver, made while loopback was allowed
    _subscribe(marketing, receiver.url)
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.DEBUG = True  # http:// allowed: only the address is in question
    _import(marketing, 1)
    # when a worker tries it
    _drain()
    # then it is refused at send time, nothing reaches the receiver, and it is not retried
    row = WebhookDelivery.objects.get()
    assert row.state == "failed"
    assert row.last_error == "Refused: 127.0.0.1 is a loopback address."
    assert receiver.received == []


def test_the_connection_goes_to_the_address_that_was_checked(receiver, marketing, monkeypatch):
    # given a host name that resolves to the receiver's address when checked
    from webhooks import targets

    monkeypatch.setattr(targets, "resolve", lambda host, port: ["127.0.0.1"])
    _subscribe(marketing, f"http://hooks.example.com:{receiver.port}/hooks")
    _import(marketing, 1)
    _drain()
    # then the POST went to that address, with the name in the Host header
    assert receiver.received[0].headers["Host"] == f"hooks.example.com:{receiver.port}"
    assert WebhookDelivery.objects.get().state == "delivered"


def test_a_run_of_failures_spanning_three_days_switches_the_subscription_off(receiver, marketing):
    receiver.answer = lambda request: (500, {}, b"")
    subscription, _ = _subscribe(marketing, receiver.url)
    _import(marketing, 1)
    now = timezone.now()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=now - timedelta(days=3, seconds=1)
    )
    delivery.deliver_due(now=now)
    subscription.refresh_from_db()
    assert subscription.is_active is False
    assert subscription.disabled_at == now
    note = Notification.objects.get(verb="webhook_disabled")
    assert note.recipient == marketing
    assert "127.0.0.1" in note.message
    # a second failing pass does not switch it off (or notify) twice
    assert delivery.deliver_due(now=now + timedelta(hours=1))["claimed"] == 0
    assert Notification.objects.filter(verb="webhook_disabled").count() == 1


def test_a_delivered_event_ends_a_run_of_failures(receiver, marketing):
    subscription, _ = _subscribe(marketing, receiver.url)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=timezone.now() - timedelta(days=2)
    )
    _import(marketing, 1)
    _drain()
    subscription.refresh_from_db()
    assert (subscription.failing_since, subscription.is_active) == (None, True)


def test_a_test_event_and_a_resend_carry_their_own_and_the_same_event_id(receiver, admin_user):
    subscription, _ = _subscribe(admin_user, receiver.url)
    event = services.send_test_event(subscription=subscription, by=admin_user)
    _drain()
    row = WebhookDelivery.objects.get()
    assert services.resend_delivery(delivery=row, by=admin_user) is True
    assert services.resend_delivery(delivery=row, by=admin_user) is False  # already waiting
    _drain()
    assert receiver.event_ids() == [str(event.pk), str(event.pk)]
    assert receiver.received[0].json["type"] == "webhook.test"
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("delivered", 2)


def test_events_no_longer_subscribed_to_are_skipped(receiver, admin_user):
    subscription, _ = _subscribe(admin_user, receiver.url, events=["lead.created", "lead.updated"])
    lead = LeadFactory()
    update_lead(lead=lead, by=admin_user, data={"company": "Globex"})
    services.update_subscription(
        subscription=subscription, by=admin_user, values={"events": ["lead.created"]}
    )
    _drain()
    assert receiver.received == []
    assert WebhookDelivery.objects.get().state == "skipped"


def test_a_won_deal_sends_stage_changed_then_won(receiver, admin_user, rep):
    events = ["opportunity.stage_changed", "opportunity.won", "opportunity.lost"]
    _subscribe(admin_user, receiver.url, events=events)
    deal = OpportunityFactory(owner=rep)
    won, before = deal.pipeline.stages.get(kind="won"), deal.stage_id
    pipeline_services.move_opportunity(
        opportunity=deal, to_stage=won, expected_version=deal.version, by=rep
    )
    _drain()
    assert [r.json["type"] for r in receiver.received] == [
        "opportunity.stage_changed",
        "opportunity.won",
    ]
    data = receiver.received[1].json["data"]
    assert data["previous"] == {"stage": before}
    assert data["object"]["stage"] == won.pk
    assert data["object"]["won_at"] is not None


def test_the_switched_off_notice_goes_only_to_who_may_see_the_webhook(
    receiver, marketing, admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    from tests.crm import attack_matrix as am

    receiver.answer = lambda request: (500, {}, b"")
    subscription, _ = _subscribe(admin_user, receiver.url)
    _import(admin_user, 1)
    now = timezone.now()
    # owned by a marketer who has left since
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        failing_since=now - timedelta(days=4), owner=marketing
    )
    type(marketing).objects.filter(pk=marketing.pk).update(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        delivery.deliver_due(now=now)
    # the owner is gone: the admins hear instead, and only about what they may see
    assert list(Notification.objects.values_list("recipient", flat=True)) == [admin_user.pk]
    links = am.LinkMap(admin_user)
    assert am.notification_leaks(links, {}) == []
    assert am.email_leaks(mailoutbox, links, {}) == []
    assert [m.to for m in mailoutbox] == [[admin_user.email]]
