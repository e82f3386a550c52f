"""sql → converted: the opportunity, account matching, and no double conversion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Account, Contact, ContactEmail
from crm.models import AuditLog
from leads.models import Lead, LeadTransition
from leads.services import InvalidTransition, convert_lead, match_account
from pipeline.models import ContactRole, Opportunity
from tests.factories import AccountFactory, ContactFactory, LeadFactory, PipelineFactory

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


# --- the lead's contact ----------------------------------------------------------------------


def test_conversion_creates_the_contact_at_the_account_and_makes_it_the_deals_primary(
    rep, pipeline
):
    lead = sql_lead(
        rep,
        email="Ana@Initech.example",
        company="Initech",
        first_name="Ana",
        last_name="Lima",
        title="CFO",
        phone="+1 555",
    )
    opportunity = convert_lead(lead=lead, by=rep, pipeline=pipeline)
    lead.refresh_from_db()
    contact = lead.contact
    assert (contact.full_name, contact.title, contact.phone) == ("Ana Lima", "CFO", "+1 555")
    assert (contact.account, contact.owner) == (opportunity.account, rep)
    assert list(contact.emails.values_list("email", "is_primary")) == [
        ("ana@initech.example", True)
    ]
    role = ContactRole.objects.get(opportunity=opportunity)
    assert (role.contact, role.role, role.is_primary) == (contact, "other", True)
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"account.create", "contact.create", "opportunity.contact_added"} <= actions


def test_converting_a_lead_whose_email_a_contact_has_links_that_contact(rep, other_rep, pipeline):
    existing = ContactFactory(owner=other_rep, account=None, email="someone@else.example")
    ContactEmail.objects.create(contact=existing, email="hank@globex.example")  # a 2nd address
    lead = sql_lead(rep, email="hank@globex.example", company="Globex")
    opportunity = convert_lead(lead=lead, by=rep, pipeline=pipeline)
    lead.refresh_from_db()
    existing.refresh_from_db()
    assert lead.contact == existing
    assert existing.account == opportunity.account  # it had none: it joins the account
    assert existing.owner == other_rep
    assert Contact.objects.count() == 1
    assert ContactRole.objects.get(opportunity=opportunity).contact == existing


def test_a_linked_contact_keeps_the_account_it_already_has(rep, pipeline):
    elsewhere = AccountFactory(name="Elsewhere", domain="elsewhere.example")
    existing = ContactFactory(owner=rep, account=elsewhere, email="kim@umbrella.example")
    lead = sql_lead(rep, email="kim@umbrella.example", company="Umbrella")
    opportunity = convert_lead(lead=lead, by=rep, pipeline=pipeline)
    existing.refresh_from_db()
    assert existing.account == elsewhere
    assert opportunity.account != elsewhere
    lead.refresh_from_db()
    assert lead.contact == existing


def test_a_refused_conversion_creates_no_contact(rep, pipeline):
    lead = LeadFactory(owner=rep, stage="srl")
    with pytest.raises(InvalidTransition):
        convert_lead(lead=lead, by=rep, pipeline=pipeline)
    assert Contact.objects.exists() is False
