"""POST /api/v1/leads/import/: upsert semantics, per-record errors, limits, idempotency."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.models import Lead
from tests.factories import LeadFactory, UserFactory, make_token
from tests.leads.factories import lead_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/import/"


@pytest.fixture
def api(client, marketing):
    token = make_token(marketing, ["leads:write", "leads:read"])

    def post(body, **headers):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return client.post(
            URL,
            data,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}", **headers},
        )

    return post


def test_url_name_is_stable():
    assert reverse("lead-import") == URL


def test_new_leads_are_created_and_emails_normalised(api):
    response = api({"match_on": "email", "leads": [lead_payload(1, email="  Ada@Firm1.Example ")]})
    assert response.status_code == 200
    body = response.json()
    assert body["created"] == 1
    assert body["failed"] == 0
    lead = Lead.objects.get()
    assert lead.email == "ada@firm1.example"
    assert lead.source == "import"
    assert body["results"] == [{"index": 0, "status": "created", "id": lead.pk, "errors": {}}]


def test_same_batch_twice_creates_nothing_the_second_time(api):
    batch = {"match_on": "email", "leads": [lead_payload(i) for i in range(5)]}
    assert api(batch).json()["created"] == 5
    second = api(batch).json()
    assert (second["created"], second["unchanged"]) == (0, 5)
    assert Lead.objects.count() == 5


def test_update_changes_only_sent_fields_and_never_blanks_the_rest(api):
    lead = LeadFactory(email="x@firm.example", phone="+1 555", title="CTO", company="Firm")
    response = api({"match_on": "email", "leads": [{"email": "X@firm.example", "title": "CEO"}]})
    assert response.json()["results"][0]["status"] == "updated"
    lead.refresh_from_db()
    assert (lead.title, lead.phone, lead.company) == ("CEO", "+1 555", "Firm")


def test_attributes_merge_and_null_removes_a_key(api):
    LeadFactory(email="x@firm.example", attributes={"plan": "pro", "seats": 5})
    api(
        {
            "match_on": "email",
            "leads": [{"email": "x@firm.example", "attributes": {"seats": None, "tier": "a"}}],
        }
    )
    assert Lead.objects.get().attributes == {"plan": "pro", "tier": "a"}


def test_bad_records_fail_alone_with_field_errors_in_request_order(api):
    records = [
        lead_payload(1),
        {"email": "not-an-email"},
        lead_payload(2, first_name="x" * 101),
        lead_payload(3, employee_count="many"),
        lead_payload(4, favourite_colour="blue"),
        "just a string",
        lead_payload(5, stage="sql"),
        lead_payload(6),
    ]
    response = api({"match_on": "email", "leads": records})
    assert response.status_code == 207
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "created",
        "failed",
        "failed",
        "failed",
        "failed",
        "failed",
        "failed",
        "created",
    ]
    assert [r["index"] for r in body["results"]] == list(range(8))
    results = body["results"]
    assert results[1]["errors"] == {"email": ["Enter a valid e-mail address."]}
    assert results[2]["errors"] == {"first_name": ["At most 100 characters."]}
    assert "employee_count" in results[3]["errors"]
    assert "favourite_colour" in results[4]["errors"]["non_field_errors"][0]
    assert results[6]["errors"] == {"stage": ["This field is read-only."]}
    assert results[1]["id"] is None
    assert (body["created"], body["failed"]) == (2, 6)
    assert set(Lead.objects.values_list("email", flat=True)) == {
        "person1@firm1.example",
        "person6@firm6.example",
    }


def test_duplicate_key_in_one_batch_first_wins(api):
    first = lead_payload(1, title="First")
    second = lead_payload(1, title="Second")
    body = api({"match_on": "email", "leads": [first, second]}).json()
    assert body["results"][0]["status"] == "created"
    assert body["results"][1]["status"] == "failed"
    assert "record 0" in body["results"][1]["errors"]["email"][0]
    assert Lead.objects.get().title == "First"


def test_match_on_external_id_updates_email_and_refuses_a_taken_email(api):
    lead = LeadFactory(external_id="crm-1", email="old@firm.example")
    LeadFactory(email="taken@firm.example")
    body = api(
        {
            "match_on": "external_id",
            "leads": [
                {"external_id": "crm-1", "email": "new@firm.example"},
                {"external_id": "crm-2", "email": "taken@firm.example"},
                {"external_id": "crm-3"},
            ],
        }
    ).json()
    assert [r["status"] for r in body["results"]] == ["updated", "failed", "failed"]
    assert "Already used" in body["results"][1]["errors"]["email"][0]
    assert body["results"][2]["errors"] == {"email": ["Required to create a lead."]}
    lead.refresh_from_db()
    assert lead.email == "new@firm.example"
    assert Lead.objects.count() == 2


def test_unknown_owner_fails_the_record(api, rep):
    body = api(
        {
            "match_on": "email",
            "leads": [lead_payload(1, owner=rep.pk), lead_payload(2, owner=999999)],
        }
    ).json()
    assert [r["status"] for r in body["results"]] == ["created", "failed"]
    assert Lead.objects.get().owner == rep


def test_more_than_1000_leads_is_413_and_writes_nothing(api):
    response = api({"match_on": "email", "leads": [lead_payload(i) for i in range(1001)]})
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]
    assert Lead.objects.exists() is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", "detail"),
        ("", "leads"),
        ({"match_on": "phone", "leads": [lead_payload(1)]}, "match_on"),
        ({"match_on": "email", "leads": []}, "leads"),
        ({"match_on": "email", "leads": {"a": 1}}, "leads"),
        ({"match_on": "email", "leads": [lead_payload(1)], "extra": 1}, "detail"),
        ([1, 2], "detail"),
    ],
)
def test_malformed_bodies_are_400_with_errors(api, body, field):
    response = api(body)
    assert response.status_code == 400
    assert field in response.json()
    assert Lead.objects.exists() is False


def test_idempotency_key_replays_the_first_response(api):
    batch = {"match_on": "email", "leads": [lead_payload(1)]}
    first = api(batch, **{"Idempotency-Key": "k1"})
    Lead.objects.all().delete()  # a replay must not re-run the import
    second = api(batch, **{"Idempotency-Key": "k1"})
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Lead.objects.exists() is False


def test_idempotency_key_with_another_body_is_422(api):
    api({"match_on": "email", "leads": [lead_payload(1)]}, **{"Idempotency-Key": "k1"})
    response = api({"match_on": "email", "leads": [lead_payload(2)]}, **{"Idempotency-Key": "k1"})
    assert response.status_code == 422
    assert Lead.objects.count() == 1


def test_idempotency_key_expires_after_24_hours(api, time_machine):
    batch = {"match_on": "email", "leads": [lead_payload(1)]}
    api(batch, **{"Idempotency-Key": "k1"})
    Lead.objects.all().delete()
    time_machine.move_to("2100-01-01")
    response = api(batch, **{"Idempotency-Key": "k1"})
    assert response.json()["created"] == 1
    assert "Idempotent-Replayed" not in response.headers


def test_token_without_write_scope_gets_403_naming_it(client, marketing):
    token = make_token(marketing, ["leads:read"])
    response = client.post(
        URL,
        {"match_on": "email", "leads": [lead_payload(1)]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert "leads:write" in response.json()["detail"]
    assert Lead.objects.exists() is False


def test_import_query_count_is_constant_in_batch_size(api, is_postgres):
    """Fixed statements per call. SQLite caps bound parameters at 999 per statement, so
    Django splits its INSERT into chunks there; PostgreSQL sends one INSERT."""
    owner = UserFactory()
    for size in (10, 200):
        existing = [lead_payload(10_000 + size + i) for i in range(size)]
        api({"match_on": "email", "leads": existing})
        batch = [dict(r, title="Changed") for r in existing] + [
            lead_payload(20_000 + size + i, owner=owner.pk) for i in range(size)
        ]
        with CaptureQueriesContext(connection) as queries:
            response = api({"match_on": "email", "leads": batch})
        assert (response.json()["updated"], response.json()["created"]) == (size, size)
        inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "leads_lead"')]
        audit = [q for q in queries if q["sql"].startswith('INSERT INTO "crm_auditlog"')]
        # import (auth, validation, upsert, idempotency) + scoring the new leads as they are
        # inserted and the updated ones after + the webhook outbox's subscriber read for the
        # created and for the updated: flat in size
        assert len(queries) - len(inserts) - len(audit) <= 23
        # one audit INSERT for the created, one for the updated (SQLite chunks them too)
        assert len(audit) == 2 if is_postgres else 2 <= len(audit) <= 2 * (size // 50 + 1)
        assert len(inserts) == 1 if is_postgres else len(inserts) <= size // 20 + 1


def test_rep_token_cannot_update_a_lead_outside_their_scope(client, rep, other_rep):
    theirs = LeadFactory(email="theirs@x.example", owner=other_rep, title="CTO")
    token = make_token(rep, ["leads:write"])
    response = client.post(
        URL,
        {"match_on": "email", "leads": [{"email": "theirs@x.example", "title": "Hacked"}]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 207
    assert response.json()["results"][0]["status"] == "failed"
    theirs.refresh_from_db()
    assert theirs.title == "CTO"


def test_rep_cannot_import_leads_for_another_team(client, rep, other_rep):
    token = make_token(rep, ["leads:write"])
    response = client.post(
        URL,
        {"match_on": "email", "leads": [lead_payload(1, owner=other_rep.pk)]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json()["results"][0]["errors"]["owner"]
    assert Lead.objects.exists() is False


def test_attributes_over_16_kb_fail_the_record(api):
    many = {f"key{i}": "v" for i in range(3000)}
    body = api(
        {
            "match_on": "email",
            "leads": [
                lead_payload(1, attributes={"blob": "x" * 17_000}),
                lead_payload(2, attributes=many),
                lead_payload(3, attributes={"plan": "pro", "seats": 5, "trial": True}),
            ],
        }
    ).json()
    assert [r["status"] for r in body["results"]] == ["failed", "failed", "created"]
    assert body["results"][0]["errors"] == {"attributes": ["At most 16 KB of custom attributes."]}
