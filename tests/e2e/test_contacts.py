"""A rep adds a contact from the account page, then builds the deal's buying committee on
the deal page (htmx Contacts card) and finds the deal on the contact's page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pipeline.models import ContactRole
from tests.factories import AccountFactory, ContactFactory, OpportunityFactory

pytestmark = pytest.mark.django_db(transaction=True)
ADD_FORM = "#deal-contacts form[aria-label='Add a contact']"
PETERS_FORM = "#deal-contacts form:has(select[aria-label='Role of Peter Gibbons'])"


def htmx_ready(page, selector):
    """Wait until htmx has processed the swapped-in element (its triggers are bound): acting
    earlier would send a plain form post, or nothing for a change trigger."""
    page.wait_for_function(
        "(s) => { const e = document.querySelector(s);"
        " return !!(e && e['htmx-internal-data'] && e['htmx-internal-data'].initHash); }",
        arg=selector,
    )


def test_rep_adds_a_contact_and_gives_it_roles_on_the_deal(login, live_server, rep):
    account = AccountFactory(owner=rep, name="Initech")
    deal = OpportunityFactory(owner=rep, account=account, name="Initech rollout")
    ContactFactory(owner=rep, account=account, first_name="Peter", last_name="Gibbons")
    page = login(rep)

    # "+ contact" on the account page, with the account preselected
    page.goto(f"{live_server.url}/accounts/{account.pk}/")
    page.click("#add-contact")
    page.fill("#id_first_name", "Bill")
    page.fill("#id_last_name", "Lumbergh")
    page.fill("#id_email", "Bill@Initech.example")
    page.click("text=Create contact")
    expect(page.locator("h1")).to_have_text("Bill Lumbergh")
    expect(page.locator("#contact-fields")).to_contain_text("bill@initech.example")
    expect(page.locator("#contact-fields")).to_contain_text("Initech")

    # the deal page's Contacts card: add both, Bill as economic buyer, then make Peter primary
    page.goto(f"{live_server.url}/pipeline/opportunities/{deal.pk}/")
    card = page.locator("#deal-contacts")
    expect(card).to_contain_text("No contacts on this deal yet.")
    htmx_ready(page, ADD_FORM)
    card.locator("select[name=contact]").select_option(label="Bill Lumbergh")
    card.locator("form[aria-label='Add a contact'] select[name=role]").select_option(
        "economic_buyer"
    )
    card.locator("text=Add").click()
    expect(card.locator("[data-testid=contact-role]")).to_have_count(1)
    expect(card.locator(".badge")).to_have_text("primary")  # the first contact is primary
    htmx_ready(page, ADD_FORM)
    card.locator("select[name=contact]").select_option(label="Peter Gibbons")
    card.locator("button:text('Add')").click()
    expect(card.locator("[data-testid=contact-role]")).to_have_count(2)
    htmx_ready(page, PETERS_FORM)
    card.locator("button:text('Make primary')").click()
    peter = card.locator("[data-testid=contact-role]", has_text="Peter Gibbons")
    expect(peter.locator(".badge")).to_have_text("primary")  # the card came back
    htmx_ready(page, PETERS_FORM)
    with page.expect_response(lambda r: "/contact-roles/" in r.url and r.status == 200):
        peter.locator("select[name=role]").select_option("champion")  # saves on change
    expect(card.locator("select[aria-label='Role of Peter Gibbons']")).to_have_value("champion")
    assert sorted(
        ContactRole.objects.filter(opportunity=deal).values_list(
            "contact__first_name", "role", "is_primary"
        )
    ) == [("Bill", "economic_buyer", False), ("Peter", "champion", True)]

    # the contact's page lists the deal with the role
    page.click("text=Peter Gibbons")
    expect(page.locator("#contact-deals")).to_contain_text("Initech rollout")
    expect(page.locator("#contact-deals")).to_contain_text("Champion · primary")
