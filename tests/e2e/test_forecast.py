from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.forecasting.factories import deal

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_adjusts_a_commit_and_sees_both_numbers_and_the_charts(
    login, live_server, manager, rep
):
    deal(rep, amount="3000", close=timezone.localdate())
    page = login(manager)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/forecast/")
    assert page.locator("#forecast-bars").is_visible()
    row = page.locator(f"#row-user-{rep.pk}")
    row.get_by_role("button", name="Adjust").click()
    page.fill("#adjust-form input[name=amount]", "2000")
    page.fill("#adjust-form input[name=note]", "Slipping to next quarter")
    page.click("#adjust-form button[type=submit]")
    # The save refreshes the page (HX-Refresh): wait for the struck-through original.
    expect(page.locator(f"#row-user-{rep.pk} s")).to_have_text("3,000")
    text = page.locator(f"#row-user-{rep.pk}").inner_text()
    assert "2,000" in text
    assert errors == []
