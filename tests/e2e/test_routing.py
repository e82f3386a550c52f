"""A manager sets up a routing rule in Settings, dry-runs it, and the sweep follows it."""

from __future__ import annotations

import pytest

from leads.assignment import assign_leads
from leads.models import Lead
from tests.factories import UserFactory
from tests.leads.routing_factories import MqlLeadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_creates_a_rule_and_dry_runs_it(login, live_server, manager):
    reps = [UserFactory(username=f"inside{i}", role="rep", team=manager.team) for i in range(2)]
    MqlLeadFactory.create_batch(3, region="EMEA", first_name="Emma")
    page = login(manager)
    page.goto(f"{live_server.url}/settings/")
    page.click("text=Lead routing")
    page.click("text=New rule")
    page.fill("#id_name", "EMEA inbound")
    page.fill("#id_priority", "10")
    page.fill("#id_regions", "EMEA")
    page.select_option("#id_target_reps", [str(r.pk) for r in reps])
    page.click("text=Save rule")
    page.wait_for_url(f"{live_server.url}/settings/routing/")
    row = page.locator("#rules tbody tr").first
    assert "EMEA inbound" in row.inner_text()
    assert "region EMEA" in row.inner_text()
    row.get_by_role("link", name="Dry run").click()
    cells = page.locator("#dry-run tbody tr")
    assert cells.count() == 3
    assert str(reps[0]) in cells.nth(0).inner_text()
    assert str(reps[1]) in cells.nth(1).inner_text()
    assert Lead.objects.filter(owner__isnull=False).count() == 0
    assign_leads()
    assert Lead.objects.filter(stage="srl").count() == 3
    page.goto(f"{live_server.url}/settings/routing/")
    assert page.locator("#recent-assignments li").count() == 3
