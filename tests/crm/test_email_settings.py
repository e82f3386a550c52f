"""Settings → E-mail: admins see what did not go out, with the relay's answer, and resend it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import outbox
from crm.models import AuditLog, OutboxMessage
from tests.factories import OutboxMessageFactory

pytestmark = pytest.mark.django_db


def _undelivered(count: int) -> list[OutboxMessage]:
    rows = []
    for n in range(count):
        rows.append(
            OutboxMessageFactory(
                status="failed", attempts=1, response=f"550 5.1.1 No such user {n}"
            )
        )
        rows.append(
            OutboxMessageFactory(
                status="given_up", attempts=31, response="could not reach the relay: timed out"
            )
        )
    return rows


@pytest.mark.parametrize("size", [2, 30])
def test_admins_see_the_undelivered_messages_with_the_relays_answers(
    client, admin_user, size, django_assert_max_num_queries
):
    rows = _undelivered(size)
    fine = OutboxMessageFactory(status="sent", subject="All good")
    waiting = OutboxMessageFactory(status="queued", subject="Still waiting")
    client.force_login(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("settings:email"))
    html = response.content.decode()
    assert response.status_code == 200
    for row in rows:
        assert f'id="outbox-{row.pk}"' in html
        assert reverse("settings:resend_email", args=[row.pk]) in html
    assert "550 5.1.1 No such user 0" in html
    assert "could not reach the relay: timed out" in html
    assert f'id="outbox-{fine.pk}"' not in html
    assert f'id="outbox-{waiting.pk}"' not in html


@pytest.mark.parametrize("role", ["rep", "other_rep", "manager", "marketing"])
def test_nobody_but_admins_sees_or_resends(client, role, request):
    row = OutboxMessageFactory(status="failed")
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("settings:email")).status_code == 403
    assert client.post(reverse("settings:resend_email", args=[row.pk])).status_code == 403
    row.refresh_from_db()
    assert row.status == "failed"


def test_resend_queues_the_same_message_again_and_it_goes_out(
    client, admin_user, mailoutbox, django_capture_on_commit_callbacks
):
    message = outbox.enqueue(kind="test", to=["ann@example.com"], subject="Hi", text="Hello")
    OutboxMessage.objects.filter(pk=message.pk).update(
        status="failed", attempts=1, response="550 5.7.1 Relaying denied"
    )
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("settings:resend_email", args=[message.pk]))
    assert response.status_code == 302
    sent = OutboxMessage.objects.get(pk=message.pk)
    assert (sent.status, sent.message_id) == ("sent", message.message_id)
    assert [m.extra_headers["Message-ID"] for m in mailoutbox] == [message.message_id]
    entry = AuditLog.objects.get(action="email.resend")
    assert (entry.actor, entry.target_id) == (admin_user, str(message.pk))
    # a second click finds nothing to resend
    assert client.post(reverse("settings:resend_email", args=[message.pk])).status_code == 404


def test_resending_a_partly_refused_message_goes_to_the_refused_recipients_only(admin_user):
    row = OutboxMessageFactory(
        status="sent",
        to=["ann@example.com", "bob@example.com"],
        refused={"bob@example.com": "550 5.2.1 Mailbox disabled"},
    )
    assert outbox.resend(message=row, by=admin_user) is True
    row.refresh_from_db()
    assert (row.status, row.envelope, row.refused) == ("queued", ["bob@example.com"], {})
    assert row.next_try_at <= timezone.now()


def test_queued_and_sent_messages_cannot_be_resent(client, admin_user):
    for status in ("queued", "sent", "cancelled"):
        row = OutboxMessageFactory(status=status)
        client.force_login(admin_user)
        response = client.post(reverse("settings:resend_email", args=[row.pk]))
        assert response.status_code == 404
        row.refresh_from_db()
        assert row.status == status
