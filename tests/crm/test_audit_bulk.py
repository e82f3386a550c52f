"""Bulk operations leave an audit trail per record: lead import and round-robin assignment."""

from __future__ import annotations

import pytest

from crm.models import AuditLog
from leads.assignment import assign_leads
from leads.importing.service import import_leads
from tests.factories import LeadFactory
from tests.leads.routing_factories import AssignmentRuleFactory, MqlLeadFactory, make_team

pytestmark = pytest.mark.django_db


def test_import_records_each_created_and_updated_lead(marketing):
    existing = LeadFactory(email="old@x.example")
    import_leads(
        records=[{"email": "old@x.example", "title": "CTO"}, {"email": "new@x.example"}],
        match_on="email",
        by=marketing,
    )
    rows = {
        (r.action, r.target_id, r.actor_id)
        for r in AuditLog.objects.filter(action__startswith="lead.import")
    }
    new_id = str(AuditLog.objects.get(action="lead.import.created").target_id)
    assert rows == {
        ("lead.import.updated", str(existing.pk), marketing.pk),
        ("lead.import.created", new_id, marketing.pk),
    }


def test_assignment_records_each_leads_new_owner_and_rule():
    team, (rep,), _ = make_team("Sales", reps=1)
    AssignmentRuleFactory(name="All", target_team=team)
    leads = MqlLeadFactory.create_batch(2)
    assign_leads(lead_ids=[lead.pk for lead in leads])
    rows = AuditLog.objects.filter(action="lead.assign").order_by("target_id")
    assert [r.target_id for r in rows] == sorted(str(lead.pk) for lead in leads)
    assert rows[0].changes["owner_id"] == [None, rep.pk]
    assert rows[0].changes["rule"] == "All"
    assert rows[0].bulk_count == 2


def test_lead_page_links_its_change_history(client, rep):
    lead = LeadFactory(owner=rep)
    client.force_login(rep)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert f'hx-get="/settings/history/leads/{lead.pk}/"' in html


def test_single_edits_of_leads_deals_stages_rules_and_quotas_are_audited(admin_user):
    from decimal import Decimal

    from forecasting.services import set_quota
    from leads.services import update_lead
    from pipeline.services import update_opportunity, update_stage
    from scoring.services import create_rule, update_rule
    from tests.factories import OpportunityFactory

    lead = LeadFactory(title="Engineer")
    update_lead(lead=lead, by=admin_user, data={"title": "CTO"})
    deal = OpportunityFactory(owner=admin_user, amount=Decimal("100.00"))
    update_opportunity(opportunity=deal, by=admin_user, amount=Decimal("250.00"))
    update_stage(stage=deal.stage, by=admin_user, probability=35)
    rule = create_rule(
        by=admin_user,
        name="VPs",
        category="fit",
        field="title",
        operator="contains",
        value="VP",
        points=10,
    )
    update_rule(rule=rule, by=admin_user, points=12)
    set_quota(by=admin_user, period="2026-Q4", amount="5000", user=admin_user)

    changes = {e.action: e.changes for e in AuditLog.objects.filter(actor=admin_user)}
    assert changes["lead.update"] == {"title": ["Engineer", "CTO"]}
    assert changes["opportunity.update"] == {"amount": ["100.00", "250.00"]}
    assert changes["stage.update"]["probability"][1] == 35
    assert "scoring_rule.create" in changes
    assert changes["scoring_rule.update"]["points"] == [10, 12]
    assert changes["quota.set"]["amount"] == [None, "5000.00"]
