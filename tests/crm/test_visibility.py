"""The one visibility scope, per role, for leads and deals (accounts and activities: their own
test folders)."""

from __future__ import annotations

import pytest

from leads.models import Lead
from pipeline.models import Opportunity
from tests.factories import LeadFactory, OpportunityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(rep, other_rep, manager):
    return {
        "rep_lead": LeadFactory(owner=rep),
        "other_lead": LeadFactory(owner=other_rep),
        "unassigned_lead": LeadFactory(owner=None),
        "manager_lead": LeadFactory(owner=manager),
        "rep_deal": OpportunityFactory(owner=rep),
        "other_deal": OpportunityFactory(owner=other_rep),
    }


def names(qs):
    return set(qs.values_list("pk", flat=True))


def test_rep_sees_only_own_leads_and_deals(rep, records):
    assert names(Lead.objects.visible_to(rep)) == {records["rep_lead"].pk}
    assert names(Opportunity.objects.visible_to(rep)) == {records["rep_deal"].pk}


def test_manager_sees_own_team_subtree_and_unassigned_leads(manager, records):
    assert names(Lead.objects.visible_to(manager)) == {
        records["rep_lead"].pk,
        records["manager_lead"].pk,
        records["unassigned_lead"].pk,
    }
    assert names(Opportunity.objects.visible_to(manager)) == {records["rep_deal"].pk}


def test_manager_of_a_parent_team_sees_the_whole_subtree(org, records):
    from tests.factories import UserFactory

    vp = UserFactory(role="manager", team=org["region"])
    org["region"].manager = vp
    org["region"].save()
    assert names(Opportunity.objects.visible_to(vp)) == {
        records["rep_deal"].pk,
        records["other_deal"].pk,
    }


def test_marketing_sees_all_leads_and_no_deals(marketing, records):
    assert names(Lead.objects.visible_to(marketing)) == {
        r.pk for k, r in records.items() if k.endswith("lead")
    }
    assert names(Opportunity.objects.visible_to(marketing)) == set()


def test_admin_sees_everything(admin_user, records):
    assert Lead.objects.visible_to(admin_user).count() == 4
    assert Opportunity.objects.visible_to(admin_user).count() == 2
