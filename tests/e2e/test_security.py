from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm import audit
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _watch_csp(page):
    violations = []
    page.on(
        "console",
        lambda msg: (
            violations.append(msg.text)
            if "Content Security Policy" in msg.text or "Refused to" in msg.text
            else None
        ),
    )
    page.on("pageerror", lambda error: violations.append(str(error)))
    return violations


def test_admin_deactivates_a_rep_and_reassigns_their_leads_under_a_strict_csp(
    login, live_server, admin_user, rep, org
):
    from tests.factories import UserFactory

    UserFactory(username="peer", role="rep", team=org["team_a"])
    LeadFactory.create_batch(3, owner=rep)
    page = login(admin_user)
    violations = _watch_csp(page)
    page.goto(f"{live_server.url}/settings/")
    page.click("#settings-sections >> text=Users")
    page.click(f"#user-{rep.pk} a")
    assert "Open work: 3 leads" in page.locator("#open-work").inner_text()
    page.click("#deactivate")
    assert page.locator("#deactivated-badge").is_visible()
    page.click("#reassign")  # round-robin is the default choice
    assert "Reassigned 3 open lead(s)" in page.locator("#messages").inner_text()
    assert page.evaluate("typeof window.htmx") == "object"
    assert violations == []


def test_the_audit_filter_swaps_rows_with_htmx(login, live_server, admin_user, rep):
    audit.record(actor=rep, action="user.profile", target=rep)
    audit.record(actor=admin_user, action="user.update", target=rep)
    page = login(admin_user)
    violations = _watch_csp(page)
    page.goto(f"{live_server.url}/settings/audit/")
    assert page.locator("#audit-rows tbody tr").count() >= 2
    with page.expect_response(lambda r: "/settings/audit/" in r.url and r.status == 200):
        page.fill("#id_action", "user.profile")
        page.press("#id_action", "Enter")
    expect(page.locator("#audit-rows tbody tr")).to_have_count(1)
    assert "user.profile" in page.locator("#audit-rows").inner_text()
    assert violations == []


def test_the_login_page_explains_a_lockout(page, live_server, rep):
    for _ in range(5):
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", rep.username)
        page.fill("#id_password", "wrong")
        page.click("button[type=submit]")
    assert "Too many failed log-in attempts" in page.locator("#lockout").inner_text()
