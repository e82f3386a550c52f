"""The one visibility scope, per role, for every model that has one."""

from __future__ import annotations

import pytest

from crm.models import Account, Activity
from leads.models import Lead
from pipeline.models import Opportunity
from tests.factories import AccountFactory, ActivityFactory, LeadFactory, OpportunityFactory

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


def test_accounts_follow_the_deals_and_leads_a_user_can_see(rep, other_rep):
    mine = AccountFactory()
    theirs = AccountFactory()
    owned = AccountFactory(owner=rep)
    OpportunityFactory(owner=rep, account=mine)
    OpportunityFactory(owner=other_rep, account=theirs)
    assert names(Account.objects.visible_to(rep)) == {mine.pk, owned.pk}


def test_activities_follow_their_lead(rep, other_rep):
    lead = LeadFactory(owner=rep)
    visible = ActivityFactory(owner=other_rep, lead=lead)  # logged by someone else on my lead
    hidden = ActivityFactory(owner=other_rep, lead=LeadFactory(owner=other_rep))
    assert visible.pk in names(Activity.objects.visible_to(rep))
    assert hidden.pk not in names(Activity.objects.visible_to(rep))
