"""The contact pages: the list (filters, htmx rows, bounded queries), the CSV export, the
contact page, create / edit (with "+ contact" from the account page), logging on a contact."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Contact, ContactEmail
from activities.models import Activity
from crm.models import AuditLog
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    ContactRoleFactory,
    LeadFactory,
    OpportunityFactory,
)

pytestmark = pytest.mark.django_db


def make_contacts(n, owner, account=None):
    account = account or AccountFactory(owner=owner)
    for i in range(n):
        contact = ContactFactory(owner=owner, account=account, last_name=f"Zed{i:03}")
        ContactEmail.objects.create(contact=contact, email=f"second{contact.pk}@x.example")


def names(response):
    return [c.last_name for c in response.context["page"].object_list]


# --- the list ------------------------------------------------------------------------------------


def test_contact_list_query_count_is_the_same_at_two_sizes(
    client, manager, rep, django_assert_num_queries
):
    client.force_login(manager)
    make_contacts(3, rep)
    with django_assert_num_queries(7):
        client.get(reverse("contacts:list"))
    make_contacts(60, rep)
    with django_assert_num_queries(7):
        response = client.get(reverse("contacts:list"))
    page = response.context["page"]
    assert page.paginator.count == 63
    assert len(page.object_list) == 50
    first = page.object_list[0]
    assert first.primary_email == f"contact{first.pk}@people.example"


def test_contact_list_filters(client, rep, other_rep):
    acme = AccountFactory(owner=rep, name="Acme")
    ada = ContactFactory(owner=rep, account=acme, last_name="Lovelace", email="ada@acme.example")
    ContactEmail.objects.create(contact=ada, email="countess@home.example")
    ContactFactory(owner=rep, last_name="Hopper", title="Admiral", unsubscribed=True)
    ContactFactory(owner=rep, last_name="Turing", do_not_contact=True, phone="+44 1234")
    ContactFactory(owner=other_rep, last_name="Hidden")
    client.force_login(rep)

    def filtered(**params):
        return names(client.get(reverse("contacts:list"), params))

    assert filtered() == ["Hopper", "Lovelace", "Turing"]
    assert filtered(q="countess") == ["Lovelace"]  # any of the e-mails
    assert filtered(q="admiral") == ["Hopper"]
    assert filtered(q="1234") == ["Turing"]
    assert filtered(account=str(acme.pk)) == ["Lovelace"]
    assert filtered(account="acm") == ["Lovelace"]
    assert filtered(owner="me") == ["Hopper", "Lovelace", "Turing"]
    assert filtered(owner="none") == []
    assert filtered(status="reachable") == ["Lovelace"]
    assert filtered(status="unsubscribed") == ["Hopper"]
    assert filtered(status="do_not_contact") == ["Turing"]
    assert filtered(status="bogus", owner="x") == ["Hopper", "Lovelace", "Turing"]  # ignored


def test_contact_list_htmx_returns_the_rows_only(client, rep):
    make_contacts(1, rep)
    client.force_login(rep)
    response = client.get(reverse("contacts:list"), headers={"HX-Request": "true"})
    assert next(t.name for t in response.templates) == "accounts/_contact_rows.html"
    assert response["Vary"] == "HX-Request, Cookie"


# --- the export ----------------------------------------------------------------------------------


def export(client, **params):
    response = client.get(reverse("contacts:export"), params)
    body = b"".join(response.streaming_content).decode()
    return response, list(csv.reader(io.StringIO(body)))


def test_contact_export_is_scoped_filtered_and_formula_safe(client, rep, other_rep):
    account = AccountFactory(owner=rep, name="=HYPERLINK(1)")
    contact = ContactFactory(
        owner=rep, account=account, first_name="@SUM(A1)", last_name="Lovelace", email="a@x.example"
    )
    ContactEmail.objects.create(contact=contact, email="b@x.example")
    ContactFactory(owner=other_rep, last_name="Hidden")
    ContactFactory(owner=rep, last_name="Unsub", unsubscribed=True)
    client.force_login(rep)
    response, rows = export(client, status="reachable")
    assert response["Content-Type"] == "text/csv"
    assert rows[0][:5] == ["id", "first_name", "last_name", "email", "other_emails"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["first_name"] == "'@SUM(A1)"
    assert row["account"] == "'=HYPERLINK(1)"
    assert (row["email"], row["other_emails"], row["owner"]) == (
        "a@x.example",
        "b@x.example",
        "rep_alice",
    )


def test_contact_export_query_count_is_the_same_at_two_sizes(
    client, rep, django_assert_num_queries
):
    client.force_login(rep)
    make_contacts(3, rep)
    with django_assert_num_queries(5):
        _, rows = export(client)
    assert len(rows) == 4
    make_contacts(80, rep)
    with django_assert_num_queries(5):
        _, rows = export(client)
    assert len(rows) == 84


# --- the contact page ----------------------------------------------------------------------------


def test_contact_page_shows_fields_deals_with_roles_and_the_timeline(
    client, rep, django_assert_max_num_queries
):
    account = AccountFactory(owner=rep, name="Initech")
    contact = ContactFactory(
        owner=rep, account=account, first_name="Peter", title="Engineer", email="peter@i.example"
    )
    deal = OpportunityFactory(owner=rep, account=account, name="Initech rollout")
    ContactRoleFactory(opportunity=deal, contact=contact, role="champion", is_primary=True)
    lead = LeadFactory(owner=rep, contact=contact)
    ActivityFactory(owner=rep, lead=None, contact=contact, subject="Lunch with Peter")
    ActivityFactory(owner=rep, lead=lead, subject="Called before he converted")
    client.force_login(rep)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("contacts:detail", args=[contact.pk]))
    body = response.content.decode()
    for text in (
        "peter@i.example",
        "Engineer",
        "Initech rollout",
        "Champion",
        "Lunch with Peter",
        "Called before he converted",
        f'href="/leads/{lead.pk}/"',
    ):
        assert text in body
    assert [a.subject for a in response.context["activities"]] == [
        "Called before he converted",
        "Lunch with Peter",
    ]


def test_contact_page_query_count_does_not_grow_with_its_deals_and_timeline(
    client, rep, django_assert_num_queries
):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(owner=rep, account=account)
    client.force_login(rep)
    url = reverse("contacts:detail", args=[contact.pk])

    def grow(n):
        for _ in range(n):
            deal = OpportunityFactory(owner=rep, account=account)
            ContactRoleFactory(opportunity=deal, contact=contact)
            ActivityFactory(owner=rep, lead=None, contact=contact)

    grow(1)
    with django_assert_num_queries(9):
        client.get(url)
    grow(20)
    with django_assert_num_queries(9):
        response = client.get(url)
    assert len(response.context["roles"]) == 21


def test_contact_pages_are_404_outside_the_scope(client, rep, other_rep):
    contact = ContactFactory(owner=other_rep, first_name="Secret")
    client.force_login(rep)
    for name in ("detail", "edit"):
        assert client.get(reverse(f"contacts:{name}", args=[contact.pk])).status_code == 404
    response = client.post(
        reverse("contacts:edit", args=[contact.pk]), {"first_name": "Pwned", "owner": rep.pk}
    )
    assert response.status_code == 404
    response = client.post(
        reverse("contacts:add_activity", args=[contact.pk]), {"kind": "note", "subject": "x"}
    )
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.first_name == "Secret"
    assert Activity.objects.exists() is False


# --- create and edit -----------------------------------------------------------------------------


def test_plus_contact_on_the_account_page_preselects_the_account_and_creates_it(client, rep):
    account = AccountFactory(owner=rep, name="Initech")
    client.force_login(rep)
    page = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    link = f"{reverse('contacts:new')}?account={account.pk}"
    assert f'href="{link}"' in page
    form = client.get(link)
    assert form.context["form"].initial["account"] == account.pk
    response = client.post(
        link,
        {
            "first_name": "Michael",
            "last_name": "Bolton",
            "email": "Michael@Initech.example",
            "other_emails": "mb@home.example, bolton@alt.example",
            "account": account.pk,
            "owner": rep.pk,
        },
    )
    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("contacts:detail", args=[contact.pk])
    assert (contact.account, contact.owner) == (account, rep)
    assert list(contact.emails.order_by("-is_primary", "pk").values_list("email", flat=True)) == [
        "michael@initech.example",
        "mb@home.example",
        "bolton@alt.example",
    ]
    page = client.get(reverse("accounts:detail", args=[account.pk])).content.decode()
    assert "Michael Bolton" in page
    assert "michael@initech.example" in page


def test_a_duplicate_email_or_a_foreign_account_re_renders_the_form_and_creates_nothing(
    client, rep, other_rep
):
    ContactFactory(email="taken@x.example")
    foreign = AccountFactory(owner=other_rep)
    client.force_login(rep)
    response = client.post(reverse("contacts:new"), {"first_name": "A", "email": "TAKEN@x.example"})
    assert response.status_code == 422
    assert "Another contact already has taken@x.example." in response.content.decode()
    response = client.post(reverse("contacts:new"), {"first_name": "A", "account": foreign.pk})
    assert response.status_code == 422
    assert "account" in response.context["form"].errors
    response = client.post(reverse("contacts:new"), {"email": "not an e-mail"})
    assert response.status_code == 422
    assert Contact.objects.count() == 1


def test_editing_a_contact_changes_its_fields_and_emails_and_is_audited(client, rep):
    contact = ContactFactory(owner=rep, first_name="Ada", email="ada@x.example")
    client.force_login(rep)
    form = client.get(reverse("contacts:edit", args=[contact.pk])).context["form"]
    assert form.initial["email"] == "ada@x.example"
    response = client.post(
        reverse("contacts:edit", args=[contact.pk]),
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "countess@x.example",
            "other_emails": "ada@x.example",
            "owner": rep.pk,
            "do_not_contact": "on",
        },
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.last_name, contact.do_not_contact) == ("Lovelace", True)
    assert ContactEmail.objects.get(contact=contact, is_primary=True).email == "countess@x.example"
    entry = AuditLog.objects.get(action="contact.update")
    assert entry.changes["emails"] == [["ada@x.example"], ["countess@x.example", "ada@x.example"]]
    history = client.get(reverse("settings:history_contacts", args=[contact.pk]))
    assert "contact.update" in history.content.decode()


# --- logging on a contact ------------------------------------------------------------------------


def test_logging_a_call_and_scheduling_a_task_on_a_contact(client, rep):
    contact = ContactFactory(owner=rep)
    client.force_login(rep)
    url = reverse("contacts:add_activity", args=[contact.pk])
    assert client.post(url, {"kind": "call", "subject": "Intro"}).status_code == 302
    due = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(
        url, {"kind": "task", "subject": "Follow up", "due_at": due}
    ).status_code == (302)
    call, task = Activity.objects.order_by("pk")
    assert (call.contact, call.kind, call.done_at is not None) == (contact, "call", True)
    assert (task.contact, task.done_at, task.remind_at is not None) == (contact, None, True)
    page = client.get(reverse("contacts:detail", args=[contact.pk])).content.decode()
    assert "Follow up" in page
    assert client.post(reverse("contacts:task_done", args=[contact.pk, task.pk])).status_code == 302
    task.refresh_from_db()
    assert task.done_at is not None


def test_a_task_without_a_due_time_is_refused_on_the_contact_page(client, rep):
    contact = ContactFactory(owner=rep)
    client.force_login(rep)
    response = client.post(
        reverse("contacts:add_activity", args=[contact.pk]), {"kind": "task", "subject": "Later"}
    )
    assert response.status_code == 422
    assert "A task needs a due date and time." in response.content.decode()
    assert Activity.objects.exists() is False


def test_the_nav_has_contacts(client, rep):
    client.force_login(rep)
    body = client.get(reverse("contacts:list")).content.decode()
    assert '<a class="nav-link active" href="/contacts/">Contacts</a>' in body
