"""The outbox against a real SMTP server on loopback (aiosmtpd): what is queued, what the relay
gets, and what is recorded when it answers yes, later (4xx), no (5xx) or nothing at all."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm import outbox
from crm.models import OrgSettings, OutboxMessage
from crm.outbox.sender import GIVE_UP_AFTER, claim_due, retry_delay
from tests.smtp_sink import SmtpSink, free_port

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def queue(to=("ann@example.com",), **kwargs):
    fields = {"kind": "test", "subject": "Hello", "text": "Hi Ann", "html": "<p>Hi Ann</p>"}
    return outbox.enqueue(to=list(to), **(fields | kwargs))


def row(message):
    return OutboxMessage.objects.get(pk=message.pk)


def test_a_queued_message_reaches_the_relay_with_its_fixed_identity(smtp_sink, settings):
    # given
    settings.SITE_URL = "https://crm.example.com"
    message = queue(cc=["Bob Lee <bob@example.com>"], reply_to=["rep@example.com"])
    install = OrgSettings.objects.get().install_id
    assert message.message_id == f"<plumb.{message.pk}.{install}@crm.example.com>"
    # when
    report = outbox.send_due(now=timezone.now())
    # then
    assert (report.claimed, report.sent, report.connections) == (1, 1, 1)
    (received,) = smtp_sink.received
    assert received.message_id == message.message_id
    assert received.rcpt_tos == ["ann@example.com", "bob@example.com"]
    assert received.message["Cc"] == "Bob Lee <bob@example.com>"
    assert received.message["Reply-To"] == "rep@example.com"
    assert received.message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in received.message.get_payload()]
    assert parts == ["text/plain", "text/html"]
    sent = row(message)
    assert (sent.status, sent.attempts, sent.claim) == ("sent", 1, "")
    assert sent.response == "250 2.0.0 Ok: queued as 1"
    assert sent.sent_at is not None


def test_a_batch_shares_one_connection(smtp_sink):
    for n in range(5):
        queue(to=[f"user{n}@example.com"])
    report = outbox.send_due(now=timezone.now())
    assert (report.sent, report.connections) == (5, 1)
    assert smtp_sink.handler.connections == 1


def test_a_rolled_back_cause_queues_nothing():
    def cause_that_fails():
        with transaction.atomic():
            queue()
            raise RuntimeError("the cause failed")

    with pytest.raises(RuntimeError):
        cause_that_fails()
    assert OutboxMessage.objects.exists() is False


@time_machine.travel(T0, tick=False)
def test_451_is_retried_within_two_minutes_and_then_delivered(smtp_sink):
    message = queue()
    smtp_sink.handler.data_replies.append("451 4.3.0 Try again later")
    # when the relay defers it
    assert outbox.send_due(now=timezone.now()).retried == 1
    deferred = row(message)
    assert (deferred.status, deferred.attempts) == ("queued", 1)
    assert deferred.response == "451 4.3.0 Try again later"
    assert T0 + timedelta(seconds=30) <= deferred.next_try_at <= T0 + timedelta(seconds=60)
    assert deferred.failing_since == T0
    # nothing is due before its time
    assert outbox.send_due(now=timezone.now()).claimed == 0
    # then it goes out on the next try, with the same Message-ID
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        assert outbox.send_due(now=timezone.now()).sent == 1
    assert [r.message_id for r in smtp_sink.received] == [message.message_id]
    assert row(message).status == "sent"


def test_550_for_one_recipient_fails_that_message_and_the_rest_are_delivered(smtp_sink):
    smtp_sink.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    good = [queue(to=[f"user{n}@example.com"]) for n in range(3)]
    bad = queue(to=["gone@example.com"])
    report = outbox.send_due(now=timezone.now())
    assert (report.sent, report.failed) == (3, 1)
    failed = row(bad)
    assert failed.status == "failed"
    assert failed.response == "gone@example.com: 550 5.1.1 No such user"
    assert failed.refused == {"gone@example.com": "550 5.1.1 No such user"}
    assert {row(m).status for m in good} == {"sent"}
    assert len(smtp_sink.received) == 3
    # a failure is final: nothing is retried
    assert outbox.send_due(now=timezone.now() + timedelta(days=1)).claimed == 0


@time_machine.travel(T0, tick=False)
def test_a_message_the_relay_takes_for_some_recipients_is_owed_to_the_deferred_ones(smtp_sink):
    smtp_sink.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"
    smtp_sink.handler.refuse["full@example.com"] = "452 4.2.2 Mailbox full"
    message = queue(to=["ann@example.com", "gone@example.com"], cc=["full@example.com"])
    assert outbox.send_due(now=timezone.now()).retried == 1
    partly = row(message)
    assert (partly.status, partly.envelope) == ("queued", ["full@example.com"])
    assert partly.refused == {"gone@example.com": "550 5.1.1 No such user"}
    assert [r.rcpt_tos for r in smtp_sink.received] == [["ann@example.com"]]
    # when the mailbox has room again, only the deferred recipient gets it
    del smtp_sink.handler.refuse["full@example.com"]
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False):
        assert outbox.send_due(now=timezone.now()).sent == 1
    assert [r.rcpt_tos for r in smtp_sink.received] == [["ann@example.com"], ["full@example.com"]]
    assert smtp_sink.message_ids() == {message.message_id: 2}  # one message, one identity
    done = row(message)
    assert (done.status, done.envelope) == ("sent", None)
    assert done.refused == {"gone@example.com": "550 5.1.1 No such user"}


def test_relay_down_is_a_transient_failure_for_the_whole_batch(settings):
    sink = SmtpSink(port=free_port())  # never started: connection refused
    sink.configure(settings, timeout=2)
    messages = [queue(to=[f"u{n}@example.com"]) for n in range(3)]
    report = outbox.send_due(now=timezone.now())
    assert (report.retried, report.connections) == (3, 0)
    for message in messages:
        stored = row(message)
        assert (stored.status, stored.attempts) == ("queued", 1)
        assert stored.response.startswith("could not reach the relay: ConnectionRefusedError")


def test_a_relay_slower_than_email_timeout_is_a_transient_failure(smtp_sink, settings):
    settings.EMAIL_TIMEOUT = 1
    smtp_sink.handler.delay = 3
    message = queue()
    report = outbox.send_due(now=timezone.now())
    assert report.retried == 1
    stored = row(message)
    assert stored.status == "queued"
    assert "timed out" in stored.response


@time_machine.travel(T0, tick=True)
def test_retries_back_off_to_at_most_an_hour_apart_and_give_up_after_a_day(settings):
    sink = SmtpSink(port=free_port())  # down for good
    sink.configure(settings, timeout=1)
    message = queue()
    tries = []
    while row(message).status == "queued":
        due = row(message).next_try_at
        with time_machine.travel(due, tick=False):
            outbox.send_due(now=timezone.now())
        tries.append(due)
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert gaps[0] <= timedelta(minutes=1)  # the first retry: well within two minutes
    assert max(gaps) <= timedelta(minutes=59)  # + the sweep's minute: at most an hour apart
    assert gaps[:4] == sorted(gaps[:4])  # growing
    given_up = row(message)
    assert given_up.status == "given_up"
    assert given_up.last_attempt_at - given_up.failing_since >= GIVE_UP_AFTER
    assert 20 < given_up.attempts < 60


def test_retry_delays_are_jittered_within_their_bounds():
    for attempt, low, high in [(1, 30, 60), (2, 60, 120), (3, 120, 240), (20, 1770, 3540)]:
        delays = {retry_delay(attempt).total_seconds() for _ in range(50)}
        assert low <= min(delays)
        assert max(delays) <= high
        assert len(delays) > 1


def test_two_senders_never_claim_the_same_row_and_a_lease_keeps_it_from_the_next():
    for n in range(5):
        queue(to=[f"u{n}@example.com"])
    now = timezone.now()
    _, first = claim_due(now=now, limit=3)
    _, second = claim_due(now=now, limit=3)
    assert len(first) == 3
    assert len(second) == 2
    assert not {r.pk for r in first} & {r.pk for r in second}
    assert claim_due(now=now, limit=10)[1] == []
    # a sender that died keeps its rows only for the lease; then they are due again
    later = now + outbox.sender.lease() + timedelta(seconds=1)
    again = claim_due(now=later, limit=10)[1]
    assert sorted(r.pk for r in again) == sorted(r.pk for r in first + second)


def test_a_sender_whose_lease_ran_out_does_not_overwrite_the_next_senders_answer(smtp_sink):
    message = queue()
    now = timezone.now()
    stale_token, stale_rows = claim_due(now=now, limit=1)
    # the lease runs out; another sender claims and delivers it
    later = now + outbox.sender.lease() + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        assert outbox.send_due(now=later).sent == 1
    # the first sender finally reports a failure: ignored, the row is someone else's
    report = outbox.SendReport()
    outbox.sender.record(
        token=stale_token,
        rows=stale_rows,
        results={message.pk: outbox.sender.Result("retry", "421 too late")},
        stale={},
        now=later,
        report=report,
    )
    assert (row(message).status, report.retried) == ("sent", 0)


def test_the_install_id_is_random_per_database_and_made_again_after_a_reset():
    first = queue().message_id
    install = OrgSettings.objects.get().install_id
    assert len(install) == 16
    OrgSettings.objects.all().delete()  # a reset database starts again
    second = queue().message_id
    assert OrgSettings.objects.get().install_id != install
    assert first.split(".")[2] != second.split(".")[2]


# --- bad input: refused with a clear message, nothing queued half-way ----------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"to": ["not-an-address"]}, "“not-an-address” is not"),
        ({"to": ["ann@example.com, bob@example.com"]}, "is not one e-mail address"),
        ({"to": [f"u{n}@example.com" for n in range(500)]}, "At most 50 recipients"),
        ({"to": ["Ann\r\nBcc: all@example.com <ann@example.com>"]}, "contains a line break"),
        ({"subject": "Hi\r\nBcc: all@example.com"}, "may not contain line breaks"),
        ({"cc": ["x@example.com\nBcc: y@example.com"]}, "contains a line break"),
        ({"text": "x" * (1024 * 1024 + 1)}, "the limit is 1 MB"),
        ({"headers": {"Bcc": "all@example.com"}}, "cannot be set"),
        ({"headers": {"X-Tag": "a\r\nBcc: all@example.com"}}, "may not contain line breaks"),
        ({"to": []}, "at least one recipient"),
        ({"to": ["x" * 250 + "@example.com"]}, "longer than an address can be"),
    ],
)
def test_bad_input_is_refused_and_nothing_of_the_batch_is_queued(fields, error):
    good = outbox.Outgoing(kind="test", to=["ann@example.com"], subject="Hi", text="Hello")
    fields = {"kind": "test", "to": ["ann@example.com"], "subject": "Hi", "text": "Hello"} | fields
    with pytest.raises(ValidationError, match=error):
        outbox.enqueue_many([good, outbox.Outgoing(**fields), good])
    assert OutboxMessage.objects.count() == 0


def test_addresses_are_kept_with_their_names_and_each_only_once():
    message = queue(to=["Ann Lee <ann@example.com>", "ANN@example.com", "bob@example.com"])
    assert message.to == ["Ann Lee <ann@example.com>", "bob@example.com"]
