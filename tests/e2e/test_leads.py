"""A rep filters their leads with htmx and works one through the lifecycle in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_rep_searches_opens_a_lead_and_moves_it_to_srl(login, live_server, rep):
    LeadFactory(owner=rep, first_name="Ada", last_name="Lovelace", stage="mql")
    LeadFactory(owner=rep, first_name="Bob", last_name="Builder")
    page = login(rep)
    page.goto(f"{live_server.url}/leads/")
    assert page.locator("#lead-count").inner_text() == "2 leads"
    page.fill("#id_q", "lovelace")
    expect(page.locator("#lead-count")).to_have_text("1 lead")
    assert "q=lovelace" in page.url  # the filtered list is linkable
    page.click("text=Ada Lovelace")
    page.click("button[data-stage=srl]")
    assert page.locator("#lead-stage").inner_text() == "SRL"
    assert "MQL → SRL" in page.locator("#timeline").inner_text()
