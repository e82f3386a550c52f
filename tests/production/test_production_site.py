"""A real browser against the production server (DEBUG=false, gunicorn, whitenoise, worker and
beat): what a user does first, and what the static files look like on the wire."""

from __future__ import annotations

import json
import re
import urllib.request

from playwright.sync_api import expect

from tests.e2e.test_board import drag


def test_rep_logs_in_opens_the_board_and_drags_a_card(login_as, base_url):
    page = login_as("rep1")
    page.goto(f"{base_url}/pipeline/")
    columns = page.locator("[data-testid=column] .board-cards[data-kind=open]")
    source = next(column for column in columns.all() if column.locator("[id^=card-]").count())
    target = columns.nth(1) if source != columns.nth(1) else columns.nth(2)
    card = source.locator("[id^=card-]").first
    card_id = card.get_attribute("id")
    target_id = target.get_attribute("id")
    before = int(
        page.locator(f"#{target_id.replace('-cards', '-header')} [data-testid=count]").inner_text()
    )
    # when
    drag(page, card, target)
    # then the target column's header counts it, and it stays there after a reload
    header = page.locator(f"#{target_id.replace('-cards', '-header')} [data-testid=count]")
    expect(header).to_have_text(str(before + 1))
    page.reload()
    assert page.locator(f"#{target_id} #{card_id}").is_visible()
    assert page.errors == []


def test_manager_opens_the_forecast_and_its_charts_draw(login_as, base_url):
    page = login_as("manager1")
    page.goto(f"{base_url}/forecast/")
    expect(page.locator("#forecast-breadcrumb")).to_be_visible()
    # Chart.js came from a hashed static URL and drew into the canvas.
    page.wait_for_function("() => window.Chart && Chart.getChart('forecast-bars')")
    assert page.errors == []


def test_static_files_are_hashed_cached_for_a_year_and_compressed(login_as, base_url):
    page = login_as("rep1")
    html = page.content()
    stylesheet = re.search(
        r'href="(/static/vendor/bootstrap/bootstrap\.min\.[0-9a-f]{12}\.css)"', html
    )
    script = re.search(r'src="(/static/js/app\.[0-9a-f]{12}\.js)"', html)
    assert stylesheet, "the stylesheet's URL is not hashed"
    assert script, "the script's URL is not hashed"
    for encoding in ("br", "gzip"):
        request = urllib.request.Request(
            base_url + stylesheet.group(1), headers={"Accept-Encoding": encoding}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Encoding"] == encoding
            assert response.headers["Cache-Control"] == "max-age=31536000, public, immutable"


def test_the_footer_and_healthz_show_the_same_version(login_as, base_url):
    page = login_as("rep1")
    footer = page.get_by_test_id("version").inner_text()
    with urllib.request.urlopen(f"{base_url}/healthz", timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "ok"
    assert body["version"] == footer
