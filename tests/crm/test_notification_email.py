"""Notifications by e-mail, as each user chose: each at once, a daily digest at their hour in
their time zone, or none; Plumb's templates, times in the recipient's zone, the footer link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm import outbox
from crm.models import Notification, OutboxMessage
from crm.services import notify
from crm.tasks import send_email_digests_task
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _tell(user, text="New lead: Ada", url="/leads/1/", target=None):
    return notify(recipients=[user], verb="lead_assigned", message=text, url=url, target=target)


@time_machine.travel(T0, tick=False)
def test_each_notification_at_once_is_an_outbox_row_written_with_it(rep, settings):
    settings.SITE_URL = "https://crm.example.com"
    rep.time_zone = "America/New_York"
    rep.save()
    lead = LeadFactory(owner=rep, first_name="Ada", last_name="Quartz")
    (note,) = _tell(rep, "New lead: Ada <b>Quartz</b>", f"/leads/{lead.pk}/", target=lead)
    message = OutboxMessage.objects.get()
    assert (message.kind, message.recipient, message.notification) == (
        "notification.lead_assigned",
        rep,
        note,
    )
    assert message.to == [rep.email]
    assert message.subject == "[Plumb] New lead: Ada <b>Quartz</b>"
    assert message.headers == {"Auto-Submitted": "auto-generated"}
    # the text part is plain, the HTML part escaped; the time is the recipient's (EST = UTC−5)
    assert "New lead: Ada <b>Quartz</b>" in message.text_body
    assert "New lead: Ada &lt;b&gt;Quartz&lt;/b&gt;" in message.html_body
    assert "<b>Quartz</b>" not in message.html_body
    assert "2026-03-02 04:00 (America/New_York)" in message.text_body
    assert f"https://crm.example.com/leads/{lead.pk}/" in message.html_body
    # the footer: where to change it
    preferences = "https://crm.example.com" + reverse("settings:profile") + "#email"
    assert preferences in message.text_body
    assert preferences in message.html_body
    note.refresh_from_db()
    assert note.emailed_at == T0


def test_a_subject_prefix_comes_from_the_settings(rep, settings):
    settings.EMAIL_SUBJECT_PREFIX = "[Acme CRM]"
    _tell(rep)
    assert OutboxMessage.objects.get().subject == "[Acme CRM] New lead: Ada"
    settings.EMAIL_SUBJECT_PREFIX = ""
    _tell(rep, "Second")
    assert OutboxMessage.objects.order_by("pk").last().subject == "Second"


@pytest.mark.parametrize("delivery", ["digest", "none"])
def test_users_on_the_digest_or_none_get_no_email_at_once(rep, delivery):
    rep.email_delivery = delivery
    rep.save()
    _tell(rep)
    assert OutboxMessage.objects.exists() is False
    assert Notification.objects.get().emailed_at is None


def test_deactivated_users_and_unusable_addresses_get_nothing_and_break_nothing(rep, other_rep):
    rep.is_active = False
    rep.save()
    other_rep.email = "not an address"
    other_rep.save()
    notify(recipients=[rep, other_rep], verb="x", message="Hello")
    assert Notification.objects.count() == 2  # the cause and its in-app notes stand
    assert OutboxMessage.objects.exists() is False


def test_a_recipient_deactivated_before_sending_is_not_mailed(rep, mailoutbox):
    _tell(rep)
    rep.is_active = False
    rep.save()
    report = outbox.send_due(now=timezone.now())
    assert (report.cancelled, mailoutbox) == (1, [])
    assert OutboxMessage.objects.get().response == "not sent: its recipient was deactivated"


# --- the daily digest -----------------------------------------------------------------------


@pytest.fixture
def digest_user(org):
    """On the digest at 08:00 Berlin time (07:00 UTC in winter)."""
    return UserFactory(
        username="digesting",
        role="rep",
        team=org["team_a"],
        email_delivery="digest",
        digest_hour=8,
        time_zone="Europe/Berlin",
    )


def test_the_digest_goes_out_once_a_day_at_the_users_hour_in_their_time_zone(digest_user):
    day = datetime(2026, 3, 2, tzinfo=UTC)
    with time_machine.travel(day - timedelta(hours=10), tick=False):  # 15:00 the day before
        _tell(digest_user, "First")
    with time_machine.travel(day - timedelta(hours=9), tick=False):
        _tell(digest_user, "Second")
    # not before 08:00 in Berlin
    with time_machine.travel(day + timedelta(hours=6, minutes=59), tick=False):
        assert send_email_digests_task()["digests"] == 0
    with time_machine.travel(day + timedelta(hours=7), tick=False):
        assert send_email_digests_task() == {"users": 1, "digests": 1, "items": 2}
        assert send_email_digests_task()["users"] == 0  # once a day
    digest = OutboxMessage.objects.get()
    assert (digest.kind, digest.to) == ("notification.digest", [digest_user.email])
    assert digest.subject == "[Plumb] Your daily digest: 2 notification(s)"
    assert digest.text_body.index("Second") < digest.text_body.index("First")  # newest first
    assert "2026-03-01 15:00" in digest.text_body  # Berlin time
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 0
    # the next day only what came since
    with time_machine.travel(day + timedelta(hours=12), tick=False):
        _tell(digest_user, "Third")
    with time_machine.travel(day + timedelta(days=1, hours=7, minutes=15), tick=False):
        assert send_email_digests_task()["items"] == 1
    latest = OutboxMessage.objects.order_by("pk").last()
    assert "Third" in latest.text_body
    assert "First" not in latest.text_body


def test_a_digest_missed_at_its_hour_goes_out_later_that_day(digest_user):
    day = datetime(2026, 3, 2, tzinfo=UTC)
    with time_machine.travel(day, tick=False):
        _tell(digest_user)
    with time_machine.travel(day + timedelta(hours=15), tick=False):  # workers were down
        assert send_email_digests_task()["digests"] == 1


def test_a_digest_leaves_out_what_the_user_may_no_longer_see(digest_user, other_rep):
    day = datetime(2026, 3, 2, tzinfo=UTC)
    with time_machine.travel(day, tick=False):
        mine = LeadFactory(owner=digest_user, first_name="Keep")
        moved = LeadFactory(owner=digest_user, first_name="Gone")
        _tell(digest_user, "About Keep", target=mine)
        _tell(digest_user, "About Gone", target=moved)
    moved.owner = other_rep
    moved.save()
    with time_machine.travel(day + timedelta(hours=7), tick=False):
        assert send_email_digests_task()["items"] == 1
    text = OutboxMessage.objects.get().text_body
    assert "About Keep" in text
    assert "About Gone" not in text


def test_no_digest_without_anything_to_tell(digest_user):
    with time_machine.travel(datetime(2026, 3, 2, 7, tzinfo=UTC), tick=False):
        assert send_email_digests_task() == {"users": 1, "digests": 0, "items": 0}
    assert OutboxMessage.objects.exists() is False


@pytest.mark.parametrize("size", [2, 25])
def test_digests_are_written_in_the_same_few_queries_for_any_number_of_users(
    org, size, django_assert_max_num_queries
):
    day = datetime(2026, 3, 2, tzinfo=UTC)
    users = [
        UserFactory(role="rep", team=org["team_a"], email_delivery="digest", digest_hour=7)
        for _ in range(size)
    ]
    with time_machine.travel(day, tick=False):
        for user in users:
            _tell(user, "One")
            _tell(user, "Two")
    with (
        time_machine.travel(day + timedelta(hours=7), tick=False),
        django_assert_max_num_queries(16),
    ):
        counts = send_email_digests_task()
    assert counts == {"users": size, "digests": size, "items": 2 * size}
