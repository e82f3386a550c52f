from __future__ import annotations

import pytest

from tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_rep_logs_in_and_sees_the_shell(login, live_server, rep):
    NotificationFactory.create_batch(2, recipient=rep)
    page = login(rep)
    nav = page.locator("nav[aria-label=Main]")
    for label in ("Leads", "Board", "Forecast", "Reports", "Settings"):
        assert nav.get_by_role("link", name=label, exact=True).is_visible()
    assert "Sales rep" in page.locator("#whoami").inner_text()
    assert page.get_by_test_id("unread-count").inner_text() == "2"
    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/login/")


def test_anonymous_visitor_is_sent_to_login(page, live_server, db):
    page.goto(f"{live_server.url}/leads/")
    assert page.url.startswith(f"{live_server.url}/login/")
