"""A rep writes to a lead from its page in a real browser: a template fills the card (htmx),
Send queues it, the page shows it on the timeline with its delivery, and it went out."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from activities.models import EmailMessage
from tests.activities.factories import EmailTemplateFactory
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_rep_sends_an_email_from_a_template_and_sees_it_on_the_timeline(
    login, live_server, rep, mailoutbox
):
    lead = LeadFactory(owner=rep, first_name="Ada", email="ada@quartz.example", company="Quartz")
    template = EmailTemplateFactory(
        owner=rep,
        name="Intro",
        subject="Hello {{ lead.first_name }}",
        body="About {{ lead.company }}",
    )
    page = login(rep)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    expect(page.locator("#compose input[name=to]")).to_have_value("ada@quartz.example")
    page.select_option("#compose select[name=template]", str(template.pk))
    expect(page.locator("#compose input[name=subject]")).to_have_value("Hello Ada")
    expect(page.locator("#compose textarea[name=body]")).to_have_value("About Quartz")
    page.fill("#compose textarea[name=body]", "About Quartz: see you Tuesday.")
    page.click("#compose button[type=submit]")
    expect(page.locator("#timeline")).to_contain_text("E-mail: Hello Ada (sent)")
    expect(page.locator("#timeline")).to_contain_text("To ada@quartz.example")
    assert page.locator("#lead-fields").inner_text().count("not yet") == 0  # first contact
    sent = EmailMessage.objects.get()
    assert [m.extra_headers["Message-ID"] for m in mailoutbox] == [sent.message_id]
    assert mailoutbox[0].body == "About Quartz: see you Tuesday."


def test_a_bad_address_is_shown_in_the_card_and_nothing_is_sent(login, live_server, rep):
    lead = LeadFactory(owner=rep)
    page = login(rep)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.fill("#compose input[name=to]", "not-an-address")
    page.fill("#compose input[name=subject]", "Hi")
    page.fill("#compose textarea[name=body]", "Hello")
    page.click("#compose button[type=submit]")
    expect(page.locator("#compose")).to_contain_text("“not-an-address” is not an e-mail address.")
    assert EmailMessage.objects.exists() is False
