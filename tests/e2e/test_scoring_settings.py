"""Scoring settings in a real browser: inline add, preview, edit and disable via htmx."""

from __future__ import annotations

import pytest

from scoring.models import ScoringRule
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_marketing_adds_previews_edits_and_disables_a_rule(login, live_server, marketing):
    LeadFactory.create_batch(2, country="US")
    page = login(marketing)
    page.goto(f"{live_server.url}/scoring/")
    form = page.locator("#rule-form")
    form.locator("[name=name]").fill("US based")
    form.locator("[name=category]").select_option("fit")
    form.locator("[name=field]").fill("country")
    form.locator("[name=operator]").select_option("equals")
    form.locator("[name=value]").fill("US")
    form.locator("[name=points]").fill("55")
    form.get_by_role("button", name="Preview MQLs").click()
    page.locator("#preview .preview-result").wait_for()
    assert "2 of 2 current leads would score ≥ 50" in page.locator("#preview").inner_text()
    assert ScoringRule.objects.exists() is False
    form.get_by_role("button", name="Add rule").click()
    row = page.locator("#rules-body tr", has_text="US based")
    row.wait_for()
    rule = ScoringRule.objects.get()
    row.get_by_role("button", name="Edit").click()
    edit = page.locator(f"#rule-{rule.pk}")
    edit.locator("[name=points]").fill("20")
    edit.get_by_role("button", name="Save").click()
    page.locator(f"#rule-{rule.pk}", has_text="+20").wait_for()
    page.locator(f"#rule-{rule.pk}").get_by_role("button", name="Disable").click()
    page.locator(f"#rule-{rule.pk}", has_text="disabled").wait_for()
    rule.refresh_from_db()
    assert (rule.points, rule.active) == (20, False)
