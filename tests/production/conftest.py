"""The production proof runs against a server that is already running (gunicorn with
DEBUG=false, a real worker and beat, or the container): scripts/ci_production.sh and
scripts/ci_image.sh start one and set PLUMB_PRODUCTION_URL. Without it these tests skip, so
plain `make test` does not collect anything that needs that server."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import ARGS, CHROMIUM

URL = os.environ.get("PLUMB_PRODUCTION_URL", "").rstrip("/")
PASSWORD = os.environ.get("PLUMB_DEMO_PASSWORD", "demo")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    skip = pytest.mark.skip(reason="needs a running production server (PLUMB_PRODUCTION_URL)")
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.e2e)
            if not URL:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def base_url() -> str:
    return URL


@pytest.fixture(scope="session")
def production_browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def login_as(production_browser, base_url):
    """Log a demo user in through the real form; returns the page. Collects page errors (a
    script that failed to load, a CSP refusal) in `page.errors`."""
    contexts = []

    def _login(username: str):
        context = production_browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: page.errors.append(msg.text) if msg.type == "error" else None,
        )
        page.goto(f"{base_url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")
        return page

    yield _login
    for context in contexts:
        context.close()
