"""Contacts: the scope (owner, or the account rule), e-mails (one primary, unique once
normalised, one indexed lookup), the services' rules and audit, and the hand-over."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import selectors, services
from accounts.models import Contact, ContactEmail
from activities.models import Activity
from crm.models import AuditLog
from crm.services_users import reassign_open_work
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    LeadFactory,
    OpportunityFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def ids(qs):
    return set(qs.values_list("pk", flat=True))


# --- the scope -----------------------------------------------------------------------------------


def test_a_rep_sees_contacts_they_own_and_those_at_accounts_they_work(rep, other_rep):
    with_deal = AccountFactory(owner=other_rep)
    OpportunityFactory(owner=rep, account=with_deal)  # rep's deal at other_rep's account
    with_lead = AccountFactory(owner=other_rep)
    LeadFactory(owner=rep, account=with_lead)  # rep's lead there
    owned = ContactFactory(owner=rep)
    at_deal_account = ContactFactory(owner=other_rep, account=with_deal)
    at_lead_account = ContactFactory(owner=other_rep, account=with_lead)
    hidden = ContactFactory(owner=other_rep, account=AccountFactory(owner=other_rep))
    nobodys = ContactFactory(owner=None, account=None)
    assert ids(Contact.objects.visible_to(rep)) == {
        owned.pk,
        at_deal_account.pk,
        at_lead_account.pk,
    }
    assert ids(Contact.objects.visible_to(other_rep)) == {
        at_deal_account.pk,
        at_lead_account.pk,
        hidden.pk,
    }
    assert nobodys.pk not in ids(Contact.objects.visible_to(rep))


def test_a_manager_sees_their_teams_contacts_and_not_another_teams(rep, other_rep, manager):
    mine = ContactFactory(owner=rep)
    theirs = ContactFactory(owner=other_rep)
    assert ids(Contact.objects.visible_to(manager)) == {mine.pk}
    assert theirs.pk not in ids(Contact.objects.visible_to(manager))


def test_admins_and_marketing_see_every_contact(rep, other_rep, marketing, admin_user):
    everyone = {ContactFactory(owner=rep).pk, ContactFactory(owner=None).pk}
    assert ids(Contact.objects.visible_to(marketing)) == everyone
    assert ids(Contact.objects.visible_to(admin_user)) == everyone


def test_activities_on_a_contact_follow_the_contacts_scope(rep, other_rep):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(owner=other_rep, account=account)
    visible = ActivityFactory(owner=other_rep, lead=None, contact=contact)
    hidden = ActivityFactory(owner=other_rep, lead=None, contact=ContactFactory(owner=other_rep))
    seen = ids(Activity.objects.visible_to(rep))
    assert visible.pk in seen
    assert hidden.pk not in seen


# --- e-mails -------------------------------------------------------------------------------------


def test_create_contact_normalises_dedupes_and_makes_the_first_email_primary(rep):
    contact = services.create_contact(
        by=rep,
        first_name=" Ada ",
        emails=["  Ada@Example.COM ", "ada@example.com", "ada.l@work.example", ""],
    )
    assert services.contact_emails(contact) == ["ada@example.com", "ada.l@work.example"]
    assert ContactEmail.objects.get(contact=contact, is_primary=True).email == "ada@example.com"
    assert (contact.first_name, contact.owner) == ("Ada", rep)


def test_an_email_of_another_contact_is_refused_whatever_its_case(rep):
    ContactFactory(email="grace@navy.example")
    with pytest.raises(ValidationError, match=r"grace@navy\.example"):
        services.create_contact(by=rep, first_name="G", emails=["GRACE@Navy.example"])
    assert Contact.objects.count() == 1


def test_the_database_refuses_a_second_primary_a_duplicate_or_an_upper_case_email():
    contact = ContactFactory(email="one@x.example")
    for row in (
        {"contact": contact, "email": "two@x.example", "is_primary": True},
        {"contact": ContactFactory(email=False), "email": "one@x.example"},
        {"contact": contact, "email": "Three@x.example"},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            ContactEmail.objects.create(**row)
    assert ContactEmail.objects.count() == 1


def test_update_with_emails_replaces_the_set_and_email_alone_moves_the_primary(rep):
    contact = services.create_contact(by=rep, last_name="L", emails=["a@x.example", "b@x.example"])
    services.update_contact(
        contact=contact, by=rep, data={"emails": ["c@x.example", "b@x.example"]}
    )
    assert services.contact_emails(contact) == ["c@x.example", "b@x.example"]
    services.update_contact(contact=contact, by=rep, data={"email": "B@x.example"})
    assert services.contact_emails(contact) == ["b@x.example", "c@x.example"]
    services.update_contact(contact=contact, by=rep, data={"email": "new@x.example"})
    assert services.contact_emails(contact) == ["new@x.example", "b@x.example", "c@x.example"]


def test_contacts_by_email_finds_a_contact_by_any_of_its_addresses_in_one_query(
    django_assert_num_queries,
):
    contact = ContactFactory(email="main@x.example")
    ContactEmail.objects.create(contact=contact, email="other@x.example")
    with django_assert_num_queries(1):
        found = selectors.contacts_by_email(["OTHER@x.example ", "nobody@x.example"])
    assert found == {"other@x.example": contact.pk}


@pytest.mark.parametrize(
    ("emails", "message"),
    [
        (["not-an-email"], "not a valid e-mail"),
        ([f"p{n}@x.example" for n in range(21)], "At most 20"),
        (["a" * 250 + "@x.example"], "longer than 254"),
    ],
)
def test_bad_emails_are_refused_and_nothing_is_written(rep, emails, message):
    with pytest.raises(ValidationError, match=message):
        services.create_contact(by=rep, first_name="X", emails=emails)
    assert Contact.objects.exists() is False


# --- the services' other rules -------------------------------------------------------------------


def test_a_contact_needs_a_name_or_an_email(rep):
    with pytest.raises(ValidationError, match="name or an e-mail"):
        services.create_contact(by=rep, first_name="  ")
    assert Contact.objects.exists() is False


def test_a_rep_cannot_give_a_contact_to_someone_else_or_file_it_at_a_hidden_account(rep, other_rep):
    with pytest.raises(ValidationError, match="cannot give"):
        services.create_contact(by=rep, first_name="A", owner=other_rep)
    with pytest.raises(ValidationError, match="account you can see"):
        services.create_contact(by=rep, first_name="A", account=AccountFactory(owner=other_rep))
    contact = ContactFactory(owner=rep)
    with pytest.raises(ValidationError, match="cannot give"):
        services.update_contact(contact=contact, by=rep, data={"owner": other_rep})
    contact.refresh_from_db()
    assert contact.owner == rep
    assert Contact.objects.count() == 1


def test_unknown_fields_are_refused(rep):
    contact = ContactFactory(owner=rep)
    with pytest.raises(ValidationError, match="Unknown field"):
        services.update_contact(contact=contact, by=rep, data={"stage": "won"})


def test_create_and_update_are_audited_with_what_changed(rep):
    account = AccountFactory(owner=rep)
    contact = services.create_contact(
        by=rep, first_name="Ada", emails=["ada@x.example"], account=account
    )
    services.update_contact(
        contact=contact, by=rep, data={"title": "CTO", "emails": ["ada@y.example"]}
    )
    created, updated = AuditLog.objects.filter(target_type="accounts.contact").order_by("pk")
    assert (created.action, created.actor, created.target_label) == ("contact.create", rep, "Ada")
    assert created.changes["emails"] == [None, ["ada@x.example"]]
    assert created.changes["account"] == [None, account.pk]
    assert updated.action == "contact.update"
    assert updated.changes == {
        "title": ["", "CTO"],
        "emails": [["ada@x.example"], ["ada@y.example"]],
    }


def test_an_edit_that_changes_nothing_writes_no_audit_entry(rep):
    contact = ContactFactory(owner=rep, title="CTO")
    services.update_contact(contact=contact, by=rep, data={"title": "CTO"})
    assert AuditLog.objects.exists() is False


def test_accounts_are_created_and_edited_through_audited_services(rep, other_rep):
    account = services.create_account(by=rep, name=" Initech ", domain=" INITECH.example ")
    assert (account.name, account.domain) == ("Initech", "initech.example")
    services.update_account(account=account, by=rep, data={"is_customer": True})
    with pytest.raises(ValidationError, match="cannot give"):
        services.update_account(account=account, by=rep, data={"owner": other_rep})
    with pytest.raises(ValidationError, match="Name the account"):
        services.update_account(account=account, by=rep, data={"name": " "})
    actions = list(AuditLog.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["account.create", "account.update"]


# --- hand-over --------------------------------------------------------------------------------


def test_a_departing_reps_contacts_and_their_open_tasks_go_to_the_new_owner(admin_user, rep, org):
    heir = UserFactory(username="rep_heir", role="rep", team=org["team_a"])
    contacts = [ContactFactory(owner=rep) for _ in range(3)]
    task = ActivityFactory(owner=rep, lead=None, contact=contacts[0], kind="task")
    result = reassign_open_work(by=admin_user, from_user=rep, to_user=heir)
    assert result.counts["contacts"] == 3
    assert set(Contact.objects.values_list("owner", flat=True)) == {heir.pk}
    task.refresh_from_db()
    assert task.owner == heir
    assert AuditLog.objects.filter(action="contact.reassign").count() == 3
