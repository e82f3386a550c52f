"""sql → converted: the opportunity, account matching, and no double conversion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Account
from leads.models import Lead, LeadTransition
from leads.services import InvalidTransition, convert_lead, match_account
from pipeline.models import Opportunity
from tests.factories import AccountFactory, LeadFactory, PipelineFactory

pytestmark = pytest.mark.django_db

BANT = {f"{item}_confirmed": True for item in Lead.BANT}


@pytest.fixture
def pipeline():
    return PipelineFactory(is_default=True)


def sql_lead(owner, **kwargs):
    return LeadFactory(owner=owner, stage="sql", **BANT, **kwargs)


def test_conversion_creates_a_deal_in_the_first_open_stage_and_links_everything(rep, pipeline):
    lead = sql_lead(rep, email="ana@initech.example", company="Initech")
    opportunity = convert_lead(
        lead=lead,
        by=rep,
        pipeline=pipeline,
        amount=Decimal("12000"),
        expected_close_date=date(2027, 3, 31),
        deal_type="new_business",
    )
    lead.refresh_from_db()
    assert lead.stage == "converted"
    assert lead.converted_at is not None
    assert opportunity.stage.name == "Qualification"
    assert (opportunity.lead, opportunity.owner, opportunity.amount) == (
        lead,
        rep,
        Decimal("12000"),
    )
    assert opportunity.account == lead.account
    assert (lead.account.name, lead.account.domain) == ("Initech", "initech.example")
    assert LeadTransition.objects.filter(lead=lead, to_stage="converted").count() == 1


def test_account_matches_the_email_domain_first(rep, pipeline):
    by_domain = AccountFactory(name="Globex Corporation", domain="globex.example")
    AccountFactory(name="Globex", domain="other.example")
    lead = sql_lead(rep, email="hank@GLOBEX.example", company="Globex")
    opportunity = convert_lead(lead=lead, by=rep, pipeline=pipeline)
    assert opportunity.account == by_domain
    assert Account.objects.count() == 2


def test_account_matches_company_name_case_insensitively(rep, pipeline):
    account = AccountFactory(name="Umbrella Corp", domain="")
    lead = sql_lead(rep, email="alice@umbrella-mail.example", company="  umbrella CORP ")
    assert convert_lead(lead=lead, by=rep, pipeline=pipeline).account == account


def test_public_mail_domain_never_matches_by_domain(rep):
    AccountFactory(name="Google", domain="gmail.com")
    assert match_account(email="someone@gmail.com", company="") is None


def test_public_mail_lead_gets_a_new_account_without_domain(rep, pipeline):
    lead = sql_lead(rep, email="someone@gmail.com", company="Tiny Shop")
    account = convert_lead(lead=lead, by=rep, pipeline=pipeline).account
    assert (account.name, account.domain) == ("Tiny Shop", "")


def test_converting_twice_is_refused_and_creates_no_second_deal(rep, pipeline):
    lead = sql_lead(rep)
    convert_lead(lead=lead, by=rep, pipeline=pipeline)
    with pytest.raises(InvalidTransition, match="already converted"):
        convert_lead(lead=lead, by=rep, pipeline=pipeline)
    assert Opportunity.objects.count() == 1


def test_only_sql_leads_convert(rep, pipeline):
    lead = LeadFactory(owner=rep, stage="srl")
    with pytest.raises(InvalidTransition, match="Only SQL"):
        convert_lead(lead=lead, by=rep, pipeline=pipeline)
    assert Opportunity.objects.exists() is False
    assert Account.objects.exists() is False
