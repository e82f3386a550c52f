"""/api/v1/emails/: send from a lead or deal (202 + the outbox row), read the delivery status;
scope emails:send; only records and e-mails in the caller's scope."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from activities import emails
from activities.models import EmailMessage
from crm import outbox
from crm.models import OutboxMessage
from tests.activities.factories import EmailTemplateFactory
from tests.factories import LeadFactory, OpportunityFactory, make_token

pytestmark = pytest.mark.django_db


def api(user, scopes=("emails:send",)):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, list(scopes))}")
    return client


def test_post_queues_the_email_and_answers_202_with_its_outbox_id_and_status(rep):
    lead = LeadFactory(owner=rep, email="ada@quartz.example")
    response = api(rep).post(
        "/api/v1/emails/",
        {"to": ["ada@quartz.example"], "subject": "Hi", "body": "Hello", "lead": lead.pk},
        format="json",
    )
    assert response.status_code == 202
    body = response.json()
    row = OutboxMessage.objects.get()
    sent = EmailMessage.objects.get()
    assert (body["id"], body["status"], body["message_id"]) == (row.pk, "queued", row.message_id)
    assert (body["lead"], body["opportunity"], body["activity"]) == (
        lead.pk,
        None,
        sent.activity_id,
    )
    assert body["to"] == ["ada@quartz.example"]


def test_get_follows_the_delivery(rep, mailoutbox):
    deal = OpportunityFactory(owner=rep)
    sent = emails.send_email(by=rep, record=deal, to=["a@example.com"], subject="Hi", body="x")
    client = api(rep)
    assert client.get(f"/api/v1/emails/{sent.outbox_id}/").json()["status"] == "queued"
    outbox.send_due(now=timezone.now())
    body = client.get(f"/api/v1/emails/{sent.outbox_id}/").json()
    assert (body["status"], body["opportunity"], body["attempts"]) == ("sent", deal.pk, 1)
    assert body["answer"].startswith("accepted by")
    assert body["sent_at"] is not None


def test_a_template_fills_subject_and_body(rep):
    lead = LeadFactory(owner=rep, first_name="Ada")
    template = EmailTemplateFactory(owner=rep, subject="Hi {{ lead.first_name }}", body="x")
    response = api(rep).post(
        "/api/v1/emails/",
        {"to": [lead.email], "lead": lead.pk, "template": template.pk},
        format="json",
    )
    assert response.status_code == 202
    assert response.json()["subject"] == "Hi Ada"


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"to": ["nope"]}, "to", "is not an e-mail address"),
        ({"to": [f"p{n}@example.com" for n in range(500)]}, "to", "At most 50 recipients"),
        ({"subject": "Hi\r\nBcc: all@example.com"}, "subject", "may not contain line breaks"),
        ({"to": ["Ann\r\nBcc: all@example.com <a@example.com>"]}, "to", "contains a line break"),
        ({"body": "x" * (1024 * 1024 + 1)}, "body", "over 1 MB"),
        ({"lead": None}, "non_field_errors", "Give exactly one of: lead, opportunity."),
        ({"to": []}, "to", "This list may not be empty."),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_queues_nothing(rep, payload, field, message):
    lead = LeadFactory(owner=rep)
    data = {"to": [lead.email], "subject": "Hi", "body": "Hello", "lead": lead.pk} | payload
    response = api(rep).post("/api/v1/emails/", data, format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert OutboxMessage.objects.exists() is False
    assert EmailMessage.objects.exists() is False


def test_both_a_lead_and_a_deal_is_refused(rep):
    lead = LeadFactory(owner=rep)
    deal = OpportunityFactory(owner=rep)
    data = {"to": ["a@example.com"], "subject": "x", "body": "x", "lead": lead.pk}
    response = api(rep).post("/api/v1/emails/", data | {"opportunity": deal.pk}, format="json")
    assert response.status_code == 400
    assert OutboxMessage.objects.exists() is False


def test_records_and_emails_out_of_scope_are_not_found(rep, other_rep, manager, other_manager):
    theirs = LeadFactory(owner=other_rep)
    data = {"to": ["a@example.com"], "subject": "x", "body": "x", "lead": theirs.pk}
    response = api(rep).post("/api/v1/emails/", data, format="json")
    assert response.status_code == 400
    assert "does not exist" in str(response.json()["lead"])
    mine = emails.send_email(
        by=rep, record=LeadFactory(owner=rep), to=["a@example.com"], subject="x", body="x"
    )
    url = f"/api/v1/emails/{mine.outbox_id}/"
    assert api(other_rep).get(url).status_code == 404
    assert api(other_manager).get(url).status_code == 404
    assert api(manager).get(url).status_code == 200  # rep is in manager's team
    # a notification's outbox row is no e-mail of the API, even for its recipient
    note_row = outbox.enqueue(kind="test", to=[rep.email], subject="x", text="x", recipient=rep)
    assert api(rep).get(f"/api/v1/emails/{note_row.pk}/").status_code == 404


def test_the_scope_emails_send_is_needed(rep):
    lead = LeadFactory(owner=rep)
    client = api(rep, ["leads:read", "activities:write", "read:all"])
    data = {"to": [lead.email], "subject": "x", "body": "x", "lead": lead.pk}
    assert client.post("/api/v1/emails/", data, format="json").status_code == 403
    sent = emails.send_email(by=rep, record=lead, to=[lead.email], subject="x", body="x")
    assert client.get(f"/api/v1/emails/{sent.outbox_id}/").status_code == 403
    assert OutboxMessage.objects.count() == 1


@pytest.mark.parametrize("size", [1, 30])
def test_reading_a_status_costs_the_same_queries_whatever_else_was_sent(
    rep, size, django_assert_max_num_queries
):
    lead = LeadFactory(owner=rep)
    sent = [
        emails.send_email(by=rep, record=lead, to=[lead.email], subject=f"{n}", body="x")
        for n in range(size)
    ]
    client = api(rep)
    with django_assert_max_num_queries(6):
        response = client.get(f"/api/v1/emails/{sent[-1].outbox_id}/")
    assert response.status_code == 200


def test_the_schema_documents_the_email_endpoints(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "post" in schema["paths"]["/api/v1/emails/"]
    assert "202" in schema["paths"]["/api/v1/emails/"]["post"]["responses"]
    assert "get" in schema["paths"]["/api/v1/emails/{id}/"]
    request = schema["components"]["schemas"]["EmailSendRequest"]["properties"]
    assert {"to", "cc", "subject", "body", "template", "lead", "opportunity"} <= set(request)
