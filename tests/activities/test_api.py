"""/api/v1/activities/: list (filters, cursor, bounded queries, scope), create (same effects as
the pages, a task's reminder through the reminder sweeper), read, patch (complete, edit,
re-arm), delete own; scopes and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from activities.models import Activity, ReminderDelivery
from activities.reminders import send_due_reminders
from crm.models import Notification
from leads.models import Lead
from tests.factories import (
    ActivityFactory,
    ContactFactory,
    LeadFactory,
    OpportunityFactory,
    make_token,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/activities/"
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def api(user, scopes=("activities:read", "activities:write")):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, list(scopes))}")
    return client


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- reading -----------------------------------------------------------------------------------


def test_the_list_follows_the_scope_and_a_foreign_activity_is_404(rep, other_rep, manager):
    mine = ActivityFactory(owner=rep, lead=LeadFactory(owner=rep))
    on_my_lead = ActivityFactory(owner=other_rep, lead=mine.lead)
    theirs = ActivityFactory(owner=other_rep, lead=LeadFactory(owner=other_rep))
    assert {row["id"] for row in results(api(rep).get(URL))} == {mine.pk, on_my_lead.pk}
    assert {row["id"] for row in results(api(manager).get(URL))} == {mine.pk, on_my_lead.pk}
    assert api(rep).get(f"{URL}{theirs.pk}/").status_code == 404
    body = api(rep).get(f"{URL}{mine.pk}/").json()
    assert (body["kind"], body["lead"], body["owner"], body["done"]) == (
        "note",
        mine.lead_id,
        rep.pk,
        False,
    )


def test_filters(rep):
    lead = LeadFactory(owner=rep)
    deal = OpportunityFactory(owner=rep)
    contact = ContactFactory(owner=rep)
    call = ActivityFactory(owner=rep, lead=lead, kind="call", done_at=timezone.now())
    task = ActivityFactory(
        owner=rep, lead=None, opportunity=deal, kind="task", due_at=NOON + timedelta(days=2)
    )
    note = ActivityFactory(owner=rep, lead=None, contact=contact, kind="note")
    Activity.objects.filter(pk=note.pk).update(created_at=NOON - timedelta(days=30))
    client = api(rep)

    def found(**params):
        return sorted(row["id"] for row in results(client.get(URL, params)))

    assert found(kind="call") == [call.pk]
    assert found(lead=lead.pk) == [call.pk]
    assert found(opportunity=deal.pk) == [task.pk]
    assert found(contact=contact.pk) == [note.pk]
    assert found(owner=rep.pk) == sorted([call.pk, task.pk, note.pk])
    assert found(done="true") == [call.pk]
    assert found(done="false") == sorted([task.pk, note.pk])
    assert found(due_after=NOON.isoformat(), due_before=(NOON + timedelta(days=3)).isoformat()) == [
        task.pk
    ]
    assert found(created_before=(NOON - timedelta(days=1)).isoformat()) == [note.pk]
    assert found(created_after=(NOON - timedelta(days=1)).isoformat()) == sorted([call.pk, task.pk])


@pytest.mark.parametrize(
    "query",
    ["kind=fax", "done=maybe", "lead=", "due_after=soon", "created_before=+99:99", "lead=x"],
)
def test_bad_filters_are_400(rep, query):
    assert api(rep).get(f"{URL}?{query}").status_code == 400


def test_the_list_query_count_is_the_same_at_two_sizes_and_pages_by_cursor(
    rep, django_assert_num_queries
):
    lead = LeadFactory(owner=rep)
    client = api(rep)
    client.get(URL)  # the token's last_used_at is touched once a minute
    ActivityFactory.create_batch(3, owner=rep, lead=lead)
    with django_assert_num_queries(2):
        assert len(results(client.get(URL))) == 3
    ActivityFactory.create_batch(40, owner=rep, lead=lead)
    with django_assert_num_queries(2):
        assert len(results(client.get(URL))) == 43
    seen, url = [], f"{URL}?page_size=10"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 43


# --- creating ----------------------------------------------------------------------------------


def test_a_call_on_a_lead_through_the_api_stamps_first_contact_like_the_page(rep):
    lead = LeadFactory(owner=rep, stage=Lead.Lifecycle.SRL)
    response = api(rep).post(
        URL, {"kind": "call", "subject": "Intro call", "lead": lead.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["done"], body["owner"], body["created_by"]) == (
        "call",
        True,
        rep.pk,
        rep.pk,
    )
    lead.refresh_from_db()
    assert lead.first_contacted_at is not None
    assert lead.last_activity_at is not None


def test_a_meeting_on_a_deal_and_its_contact_refreshes_the_rotting_clock(rep):
    deal = OpportunityFactory(owner=rep, last_activity_at=None)
    contact = ContactFactory(owner=rep)
    response = api(rep).post(
        URL,
        {"kind": "meeting", "subject": "Demo", "opportunity": deal.pk, "contact": contact.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    deal.refresh_from_db()
    assert deal.last_activity_at is not None
    assert Activity.objects.get().contact == contact


@time_machine.travel(NOON, tick=False)
def test_a_task_through_the_api_gets_its_reminder_through_the_sweeper(rep):
    rep.remind_before_minutes = 15
    rep.save()
    contact = ContactFactory(owner=rep)
    due = NOON + timedelta(minutes=30)
    response = api(rep).post(
        URL,
        {"kind": "task", "subject": "Send quote", "contact": contact.pk, "due_at": due.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    task = Activity.objects.get()
    assert (task.done_at, task.remind_at) == (None, due - timedelta(minutes=15))
    assert send_due_reminders(now=NOON)["delivered"] == 0
    with time_machine.travel(NOON + timedelta(minutes=16), tick=False):
        assert send_due_reminders(now=timezone.now())["delivered"] == 1
    note = Notification.objects.get(recipient=rep, verb="task_due")
    assert note.url == f"/contacts/{contact.pk}/"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "task", "subject": "No due time", "lead": "mine"}, "due_at"),
        ({"kind": "email", "subject": "Mail", "lead": "mine"}, "kind"),
        ({"kind": "call", "subject": "Nowhere"}, "lead"),
        ({"kind": "call", "subject": "Hidden", "lead": "theirs"}, "lead"),
        ({"kind": "call", "subject": "", "lead": "mine"}, "subject"),
        ({"kind": "call", "subject": "x" * 201, "lead": "mine"}, "subject"),
        ({"kind": "task", "subject": "T", "lead": "mine", "due_at": "tomorrow"}, "due_at"),
        (
            {"kind": "task", "subject": "T", "lead": "mine", "due_at": "0001-01-01T00:00:00Z"},
            "due_at",
        ),
        ({"kind": "call", "subject": "For bob", "lead": "mine", "owner": "bob"}, "owner"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_written(rep, other_rep, payload, field):
    mine, theirs = LeadFactory(owner=rep), LeadFactory(owner=other_rep)
    values = {"mine": mine.pk, "theirs": theirs.pk, "bob": other_rep.pk}
    payload = {key: values.get(value, value) for key, value in payload.items()}
    response = api(rep).post(URL, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Activity.objects.exists() is False
    mine.refresh_from_db()
    assert mine.first_contacted_at is None


def test_a_manager_may_give_a_task_only_to_someone_who_sees_the_record(rep, manager, other_rep):
    managers_lead = LeadFactory(owner=manager)
    reps_lead = LeadFactory(owner=rep)
    client = api(manager)
    due = (timezone.now() + timedelta(days=1)).isoformat()
    refused = client.post(
        URL,
        {"kind": "task", "subject": "x", "lead": managers_lead.pk, "owner": rep.pk, "due_at": due},
        format="json",
    )
    assert refused.status_code == 400
    assert "owner" in refused.json()
    given = client.post(
        URL,
        {"kind": "task", "subject": "y", "lead": reps_lead.pk, "owner": rep.pk, "due_at": due},
        format="json",
    )
    assert given.status_code == 201
    assert Activity.objects.get().owner == rep


# --- patching and deleting ---------------------------------------------------------------------


def test_anyone_who_sees_a_task_completes_it_but_only_its_owner_edits_it(rep, manager):
    task = ActivityFactory(
        owner=rep, lead=LeadFactory(owner=rep), kind="task", due_at=timezone.now()
    )
    response = api(manager).patch(f"{URL}{task.pk}/", {"subject": "Renamed"}, format="json")
    assert response.status_code == 403
    response = api(manager).patch(f"{URL}{task.pk}/", {"done": True}, format="json")
    assert response.status_code == 200
    assert response.json()["done"] is True
    task.refresh_from_db()
    assert (task.subject != "Renamed", task.done_at is not None) == (True, True)
    response = api(rep).patch(f"{URL}{task.pk}/", {"done": False}, format="json")
    assert response.status_code == 400


def test_moving_a_tasks_due_time_re_arms_its_reminder(rep):
    rep.remind_before_minutes = 10
    rep.save()
    task = ActivityFactory(
        owner=rep,
        lead=LeadFactory(owner=rep),
        kind="task",
        due_at=NOON,
        remind_at=NOON - timedelta(minutes=10),
        reminded_at=NOON - timedelta(minutes=10),
    )
    later = NOON + timedelta(days=1)
    response = api(rep).patch(
        f"{URL}{task.pk}/", {"due_at": later.isoformat(), "body": "Moved"}, format="json"
    )
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert (task.due_at, task.remind_at, task.reminded_at, task.body) == (
        later,
        later - timedelta(minutes=10),
        None,
        "Moved",
    )


def test_a_note_has_no_due_time(rep):
    note = ActivityFactory(owner=rep, lead=LeadFactory(owner=rep), kind="note")
    response = api(rep).patch(f"{URL}{note.pk}/", {"due_at": NOON.isoformat()}, format="json")
    assert response.status_code == 400
    note.refresh_from_db()
    assert note.due_at is None


def test_one_deletes_ones_own_activity_only(rep, manager, other_rep):
    lead = LeadFactory(owner=rep)
    mine = ActivityFactory(owner=rep, lead=lead)
    reps_on_manager_view = ActivityFactory(owner=rep, lead=lead)
    theirs = ActivityFactory(owner=other_rep, lead=LeadFactory(owner=other_rep))
    assert api(rep).delete(f"{URL}{mine.pk}/").status_code == 204
    assert api(manager).delete(f"{URL}{reps_on_manager_view.pk}/").status_code == 403
    assert api(rep).delete(f"{URL}{theirs.pk}/").status_code == 404
    assert set(Activity.objects.values_list("pk", flat=True)) == {
        reps_on_manager_view.pk,
        theirs.pk,
    }


def test_deleting_a_reminded_task_takes_its_reminder_along(rep):
    task = ActivityFactory(owner=rep, lead=LeadFactory(owner=rep), kind="task", due_at=NOON)
    ReminderDelivery.objects.create(activity=task, recipient=rep, due_at=NOON, sent_at=NOON)
    assert api(rep).delete(f"{URL}{task.pk}/").status_code == 204
    assert ReminderDelivery.objects.exists() is False


def test_a_read_token_cannot_write_and_other_scopes_cannot_read(rep):
    lead = LeadFactory(owner=rep)
    note = ActivityFactory(owner=rep, lead=lead)
    reader = api(rep, ["activities:read"])
    assert reader.post(URL, {"kind": "note", "subject": "x", "lead": lead.pk}).status_code == 403
    assert reader.patch(f"{URL}{note.pk}/", {"subject": "x"}, format="json").status_code == 403
    assert reader.delete(f"{URL}{note.pk}/").status_code == 403
    assert api(rep, ["leads:read"]).get(URL).status_code == 403
    assert Activity.objects.count() == 1
