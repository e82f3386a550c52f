"""Sign-in in a real browser: enrol an authenticator app (codes computed here from the secret
the page shows), sign in with a code, spend a recovery code once, and sign in through the test
OpenID Connect provider. No CSP violation on the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.signin.helpers import totp

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
    return violations


def _password(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw")
    page.click("form[action='/login/'] button[type=submit]")


def _log_out(page, live_server):
    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/login/")


def test_enrol_then_sign_in_with_a_code_and_a_recovery_code_once(login, live_server, rep):
    page = login(rep)
    violations = _watch_csp(page)
    page.goto(f"{live_server.url}/settings/two-factor/")
    assert page.locator("#totp-qr svg").is_visible()
    secret = page.locator("#totp-secret").get_attribute("data-secret")
    page.fill("#id_code", totp(secret))
    page.click("#enrol-form button[type=submit]")
    codes = page.locator("#recovery-codes li").evaluate_all("els => els.map(e => e.dataset.code)")
    assert len(codes) == 10
    _log_out(page, live_server)

    _password(page, live_server, rep)
    page.wait_for_url(f"{live_server.url}/login/code/")
    page.fill("#id_code", totp(secret, step_offset=1))
    page.click("#code-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    _log_out(page, live_server)

    _password(page, live_server, rep)
    page.wait_for_url(f"{live_server.url}/login/code/")
    page.fill("#id_code", codes[0])
    page.click("#code-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    _log_out(page, live_server)

    _password(page, live_server, rep)
    page.wait_for_url(f"{live_server.url}/login/code/")
    page.fill("#id_code", codes[0])
    page.click("#code-form button[type=submit]")
    expect(page.locator("#code-error")).to_contain_text("does not match")
    assert page.url == f"{live_server.url}/login/code/"
    assert violations == []


def test_sign_in_through_the_test_oidc_provider(page, live_server, oidc, rep):
    violations = _watch_csp(page)
    page.goto(f"{live_server.url}/login/")
    page.click("[data-testid=sso-test]")
    page.wait_for_url(f"{live_server.url}/")
    assert (
        rep.username in page.locator("#whoami").inner_text()
        or str(rep) in page.locator("#whoami").inner_text()
    )
    assert violations == []
