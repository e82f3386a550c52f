"""Sending e-mail from a lead or a deal: through the outbox, logged on the record's timeline,
counted as contact; templates with merge fields; bad input refused with nothing queued."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from activities import emails
from activities.models import Activity, EmailMessage, EmailTemplate
from crm import outbox
from crm.models import OutboxMessage
from leads.models import Lead
from pipeline.models import Opportunity
from tests.activities.factories import EmailTemplateFactory
from tests.factories import (
    AccountFactory,
    ContactFactory,
    ContactRoleFactory,
    LeadFactory,
    OpportunityFactory,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def nothing_written() -> bool:
    return not (
        OutboxMessage.objects.exists()
        or EmailMessage.objects.exists()
        or Activity.objects.filter(kind="email").exists()
    )


@time_machine.travel(T0, tick=False)
def test_a_rep_e_mails_a_lead_queued_logged_and_counted_as_first_contact(rep, settings):
    settings.DEFAULT_FROM_EMAIL = "Plumb CRM <crm@acme.example>"
    lead = LeadFactory(owner=rep, first_name="Ada", email="ada@quartz.example")
    sent = emails.send_email(
        by=rep,
        record=lead,
        to=["ada@quartz.example"],
        cc=["Boss <boss@quartz.example>"],
        subject="Our call",
        body="Hi Ada,\n\nas promised <details> below.",
    )
    row = sent.outbox
    assert (row.kind, row.status, row.to, row.cc) == (
        "activities.email",
        "queued",
        ["ada@quartz.example"],
        ["Boss <boss@quartz.example>"],
    )
    name = rep.get_full_name()
    assert row.from_email == f"{name} <crm@acme.example>"
    assert row.reply_to == [f"{name} <{rep.email}>"]
    assert row.subject == "Our call"  # no [Plumb] prefix on a rep's own mail
    assert row.html_body == "<p>Hi Ada,</p>\n\n<p>as promised &lt;details&gt; below.</p>"
    # logged on the lead, with the outbox's Message-ID and the message's Date
    activity = sent.activity
    assert (activity.kind, activity.lead, activity.owner, activity.subject) == (
        "email",
        lead,
        rep,
        "Our call",
    )
    assert (sent.direction, sent.message_id, sent.sent_at) == ("out", row.message_id, T0)
    assert sent.to == ["ada@quartz.example"]
    lead.refresh_from_db()
    assert (lead.first_contacted_at, lead.last_activity_at) == (T0, T0)


def test_email_from_user_puts_the_users_own_address_in_from(rep, settings):
    settings.EMAIL_FROM_USER = True
    lead = LeadFactory(owner=rep)
    sent = emails.send_email(by=rep, record=lead, to=[lead.email], subject="Hi", body="Hello")
    assert sent.outbox.from_email == f"{rep.get_full_name()} <{rep.email}>"
    assert sent.from_address == sent.outbox.from_email


@time_machine.travel(T0, tick=False)
def test_an_e_mail_from_a_deal_restarts_its_rotting_clock_and_reaches_the_relay(rep, smtp_sink):
    lead = LeadFactory(owner=rep, email="ada@quartz.example")
    deal = OpportunityFactory(owner=rep, lead=lead, is_stale=False)
    assert [r.address for r in emails.recipients_for(deal)] == ["ada@quartz.example"]
    sent = emails.send_email(by=rep, record=deal, to=[lead.email], subject="Proposal", body="x")
    deal.refresh_from_db()
    assert deal.last_activity_at == T0
    assert sent.activity.opportunity == deal
    assert outbox.send_due(now=T0).sent == 1
    (received,) = smtp_sink.received
    assert received.message_id == sent.message_id
    assert received.message["Reply-To"] == f"{rep.get_full_name()} <{rep.email}>"
    assert received.rcpt_tos == ["ada@quartz.example"]


def test_a_template_fills_its_merge_fields_and_escapes_them_in_html(rep):
    rep.first_name = "Rita"
    rep.save()
    lead = LeadFactory(owner=rep, first_name="<b>Ada</b>", company="Quartz & Co")
    template = emails.create_email_template(
        by=rep,
        name="Intro",
        subject="Hello {{ lead.first_name }} at {{lead.company}}",
        body="Dear {{ lead.first_name }},\n\n{{ sender.first_name }}",
    )
    sent = emails.send_email(by=rep, record=lead, to=[lead.email], template=template)
    assert sent.subject == "Hello <b>Ada</b> at Quartz & Co"
    assert sent.text_body == "Dear <b>Ada</b>,\n\nRita"
    assert "&lt;b&gt;Ada&lt;/b&gt;" in sent.html_body
    assert "<b>Ada</b>" not in sent.html_body


def test_a_deal_template_knows_the_deal_and_its_lead(rep):
    lead = LeadFactory(owner=rep, first_name="Ada")
    deal = OpportunityFactory(owner=rep, lead=lead, name="Big one")
    template = EmailTemplateFactory(
        owner=rep, subject="{{ deal.name }}", body="{{ lead.first_name }}: {{ deal.amount }}"
    )
    deal = Opportunity.objects.select_related("lead", "account").get(pk=deal.pk)
    assert emails.fill_template(template=template, by=rep, record=deal) == (
        "Big one",
        "Ada: 1,000.00",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Hi {{ lead.nickname }}", "Unknown merge field {{ lead.nickname }}"),
        ("Hi {{ owner.first_name }}", "Unknown merge field {{ owner.first_name }}"),
        ("{% if lead %}Hi{% endif %}", "“{%” is not allowed"),
        ("{# note #}Hi", "“{#” is not allowed"),
        ("Hi {{ lead.first_name|upper }}", "is not a merge field"),
        ("Hi {{ lead.first_name }", "without its"),
        ("Hi {{ }}", "is not a merge field"),
    ],
)
def test_a_template_with_tags_or_unknown_fields_is_refused_when_saved(rep, body, message):
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("|", r"\|")):
        emails.create_email_template(by=rep, name="Bad", subject="Hi", body=body)
    assert EmailTemplate.objects.exists() is False


def test_only_admins_and_managers_share_templates(rep, manager):
    with pytest.raises(PermissionDenied):
        emails.create_email_template(by=rep, name="X", subject="Hi", body="x", shared=True)
    shared = emails.create_email_template(by=manager, name="X", subject="Hi", body="x", shared=True)
    assert shared.owner is None
    assert list(EmailTemplate.objects.visible_to(rep)) == [shared]
    with pytest.raises(PermissionDenied):
        emails.update_email_template(by=rep, template=shared, name="Y", subject="Hi", body="x")


def test_someone_elses_template_cannot_be_used(rep, other_rep):
    lead = LeadFactory(owner=rep)
    theirs = EmailTemplateFactory(owner=other_rep)
    with pytest.raises(ValidationError, match="Choose one of your"):
        emails.send_email(by=rep, record=lead, to=[lead.email], template=theirs)
    assert nothing_written()


def test_a_record_out_of_scope_cannot_be_written_from(rep, other_rep):
    lead = LeadFactory(owner=other_rep)
    with pytest.raises(PermissionDenied):
        emails.send_email(by=rep, record=lead, to=[lead.email], subject="Hi", body="x")
    assert nothing_written()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"to": ["ada@"]}, "is not an e-mail address"),
        ({"to": [f"p{n}@example.com" for n in range(500)]}, "At most 50 recipients"),
        ({"cc": ["Ann\nBcc: x@example.com <a@example.com>"]}, "contains a line break"),
        ({"subject": "Hi\r\nBcc: everyone@example.com"}, "may not contain line breaks"),
        ({"body": "x" * (1024 * 1024 + 1)}, "over 1 MB"),
        ({"subject": ""}, "Give the e-mail a subject"),
        ({"body": "  "}, "Write something"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_queued_or_logged(rep, fields, message):
    lead = LeadFactory(owner=rep)
    values = {"to": [lead.email], "subject": "Hi", "body": "Hello"} | fields
    with pytest.raises(ValidationError, match=message):
        emails.send_email(by=rep, record=lead, **values)
    assert nothing_written()
    lead.refresh_from_db()
    assert lead.first_contacted_at is None


# --- the compose card on the lead and deal pages ----------------------------------------------


def test_the_lead_page_offers_the_leads_address_and_the_templates(client, rep, other_rep):
    lead = LeadFactory(owner=rep, email="ada@quartz.example")
    mine = EmailTemplateFactory(owner=rep, name="Mine")
    theirs = EmailTemplateFactory(owner=other_rep, name="Theirs")
    client.force_login(rep)
    html = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'id="compose"' in html
    assert '<option value="ada@quartz.example">' in html
    assert f'<option value="{mine.pk}">Mine</option>' in html
    assert f'value="{theirs.pk}"' not in html


def test_the_deal_page_offers_its_committee_first_then_the_accounts_people_then_the_lead(
    client, rep, django_assert_max_num_queries
):
    # given: a deal with a primary champion, another role, a colleague at the account, a
    # do-not-contact one, a contact at another account, and the lead it came from
    account = AccountFactory(owner=rep)
    lead = LeadFactory(owner=rep, email="lead@quartz.example")
    deal = OpportunityFactory(owner=rep, account=account, lead=lead)
    champion = ContactFactory(owner=rep, account=account, last_name="Zed", email="zed@q.example")
    ContactRoleFactory(opportunity=deal, contact=champion, is_primary=True)
    buyer = ContactFactory(owner=rep, last_name="Young", email="young@q.example")
    ContactRoleFactory(opportunity=deal, contact=buyer)
    ContactFactory(owner=rep, account=account, last_name="Abel", email="abel@q.example")
    ContactFactory(owner=rep, account=account, do_not_contact=True, email="no@q.example")
    ContactFactory(owner=rep, account=AccountFactory(owner=rep), email="other@q.example")
    ContactFactory(owner=rep, email="loner@q.example")  # no account: not the deal's person
    client.force_login(rep)
    # when
    html = client.get(reverse("pipeline:opportunity", args=[deal.pk])).content.decode()
    # then
    offered = [
        address
        for address in ("zed@q.example", "young@q.example", "abel@q.example", "lead@quartz.example")
        if f'<option value="{address}">' in html
    ]
    assert offered == ["zed@q.example", "young@q.example", "abel@q.example", "lead@quartz.example"]
    assert [html.index(f'<option value="{a}">') for a in offered] == sorted(
        html.index(f'<option value="{a}">') for a in offered
    )
    for absent in ("no@q.example", "other@q.example", "loner@q.example"):
        assert absent not in html


def test_choosing_a_template_fills_the_card_for_this_lead(client, rep, other_rep):
    lead = LeadFactory(owner=rep, first_name="Ada")
    template = EmailTemplateFactory(owner=rep, subject="Hi {{ lead.first_name }}")
    theirs = EmailTemplateFactory(owner=other_rep)
    client.force_login(rep)
    url = reverse("leads:email", args=[lead.pk])
    response = client.get(url, {"template": template.pk}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'value="Hi Ada"' in response.content.decode()
    response = client.get(url, {"template": theirs.pk}, headers={"HX-Request": "true"})
    assert response.status_code == 404


def test_sending_from_the_lead_page_logs_it_on_the_timeline(client, rep):
    lead = LeadFactory(owner=rep, email="ada@quartz.example")
    client.force_login(rep)
    response = client.post(
        reverse("leads:email", args=[lead.pk]),
        {"to": "ada@quartz.example", "cc": "", "subject": "Our call", "body": "Hi"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("leads:detail", args=[lead.pk])
    html = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "E-mail: Our call (queued)" in html
    assert "To ada@quartz.example" in html


def test_sending_from_the_deal_page_shows_it_with_its_delivery(client, rep):
    deal = OpportunityFactory(owner=rep)
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:opportunity_email", args=[deal.pk]),
        {"to": "ada@quartz.example, Bob <bob@quartz.example>", "subject": "Terms", "body": "x"},
    )
    assert response.status_code == 302
    sent = EmailMessage.objects.get()
    assert sent.to == ["ada@quartz.example", "Bob <bob@quartz.example>"]
    html = client.get(reverse("pipeline:opportunity", args=[deal.pk])).content.decode()
    assert 'data-testid="email-meta"' in html
    assert "To ada@quartz.example, Bob &lt;bob@quartz.example&gt;" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"to": "not-an-address"}, "is not an e-mail address"),
        ({"to": ", ".join(f"p{n}@example.com" for n in range(500))}, "At most 50 recipients"),
        ({"subject": "Hi\r\nBcc: all@example.com"}, "may not contain line breaks"),
        ({"body": "x" * (1024 * 1024 + 1)}, "over 1 MB"),
    ],
)
def test_the_card_shows_what_is_wrong_and_sends_nothing(client, rep, data, message):
    lead = LeadFactory(owner=rep)
    client.force_login(rep)
    values = {"to": lead.email, "subject": "Hi", "body": "Hello"} | data
    response = client.post(
        reverse("leads:email", args=[lead.pk]), values, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    assert nothing_written()


def test_nobody_writes_from_a_record_they_cannot_see(client, rep, other_rep):
    lead = LeadFactory(owner=other_rep)
    deal = OpportunityFactory(owner=other_rep)
    client.force_login(rep)
    data = {"to": "x@example.com", "subject": "Hi", "body": "x"}
    assert client.post(reverse("leads:email", args=[lead.pk]), data).status_code == 404
    assert (
        client.post(reverse("pipeline:opportunity_email", args=[deal.pk]), data).status_code == 404
    )
    assert nothing_written()
    assert Lead.objects.get(pk=lead.pk).first_contacted_at is None
