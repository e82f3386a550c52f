"""/api/v1/contacts/ and /api/v1/accounts/: scopes, visibility (404), filters, cursor pages,
bounded queries, creates and patches through the services, bad input."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Account, Contact, ContactEmail
from crm.models import AuditLog
from tests.factories import (
    AccountFactory,
    ContactFactory,
    LeadFactory,
    OpportunityFactory,
    make_token,
)

pytestmark = pytest.mark.django_db
CONTACT_SCOPES = ("contacts:read", "contacts:write")
ACCOUNT_SCOPES = ("accounts:read", "accounts:write")


def api(user, scopes=CONTACT_SCOPES + ACCOUNT_SCOPES):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user, list(scopes))}")
    return client


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- contacts: reading -----------------------------------------------------------------------


def test_a_contact_shows_its_primary_and_all_its_emails(rep):
    contact = ContactFactory(owner=rep, first_name="Ada", email="ada@x.example")
    ContactEmail.objects.create(contact=contact, email="countess@x.example")
    body = api(rep).get(f"/api/v1/contacts/{contact.pk}/").json()
    assert body["email"] == "ada@x.example"
    assert body["emails"] == ["ada@x.example", "countess@x.example"]
    assert (body["first_name"], body["owner"], body["account"]) == ("Ada", rep.pk, None)


@pytest.mark.parametrize(("role", "visible"), [("rep", 2), ("manager", 2), ("admin_user", 3)])
def test_the_contact_list_follows_the_scope(request, role, visible, rep, other_rep):
    worked = AccountFactory(owner=other_rep)
    OpportunityFactory(owner=rep, account=worked)
    ContactFactory(owner=rep)
    ContactFactory(owner=other_rep, account=worked)
    ContactFactory(owner=other_rep)
    user = request.getfixturevalue(role)
    assert len(results(api(user).get("/api/v1/contacts/"))) == visible


def test_a_contact_outside_the_scope_is_404_for_read_and_patch(rep, other_rep):
    contact = ContactFactory(owner=other_rep, first_name="Secret")
    client = api(rep)
    assert client.get(f"/api/v1/contacts/{contact.pk}/").status_code == 404
    response = client.patch(f"/api/v1/contacts/{contact.pk}/", {"first_name": "x"}, format="json")
    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.first_name == "Secret"


def test_contact_filters_and_cursor_pages(rep, django_assert_max_num_queries):
    account = AccountFactory(owner=rep)
    ada = ContactFactory(owner=rep, account=account, last_name="Lovelace", email="ada@x.example")
    ContactEmail.objects.create(contact=ada, email="countess@home.example")
    ContactFactory(owner=rep, unsubscribed=True, last_name="Hopper")
    for n in range(20):
        ContactFactory(owner=rep, last_name=f"Bulk{n}")
    client = api(rep)

    def found(**params):
        return [row["id"] for row in results(client.get("/api/v1/contacts/", params))]

    assert found(email="Countess@Home.example") == [ada.pk]
    assert found(account=account.pk) == [ada.pk]
    assert found(search="lovelace countess") == [ada.pk]
    assert len(found(unsubscribed="true")) == 1
    assert len(found(unsubscribed="false", owner=rep.pk)) == 21
    seen, url = [], "/api/v1/contacts/?page_size=5"
    while url:
        with django_assert_max_num_queries(4):
            page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 22


def test_the_contact_list_query_count_is_the_same_at_two_sizes(rep, django_assert_num_queries):
    client = api(rep)
    client.get("/api/v1/contacts/")  # the token's last_used_at is touched once a minute
    for _ in range(3):
        ContactFactory(owner=rep, account=AccountFactory(owner=rep))
    with django_assert_num_queries(3):
        assert len(results(client.get("/api/v1/contacts/"))) == 3
    for _ in range(40):
        ContactFactory(owner=rep, account=AccountFactory(owner=rep))
    with django_assert_num_queries(3):
        assert len(results(client.get("/api/v1/contacts/"))) == 43


@pytest.mark.parametrize(
    "query",
    ["unsubscribed=maybe", "account=", "owner=x", "updated_since=yesterday", "page_size=0"],
)
def test_bad_contact_filters_are_400(rep, query):
    assert api(rep).get(f"/api/v1/contacts/?{query}").status_code == 400


# --- contacts: writing -----------------------------------------------------------------------


def test_creating_a_contact_with_emails(rep):
    account = AccountFactory(owner=rep)
    response = api(rep).post(
        "/api/v1/contacts/",
        {
            "first_name": "Ada",
            "email": "ADA@x.example",
            "emails": ["countess@x.example"],
            "account": account.pk,
            "title": "Countess",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["emails"] == ["ada@x.example", "countess@x.example"]
    contact = Contact.objects.get(pk=body["id"])
    assert (contact.owner, contact.account, contact.title) == (rep, account, "Countess")
    assert AuditLog.objects.filter(action="contact.create", target_id=str(contact.pk)).exists()


def test_patching_a_contact_changes_only_what_is_sent(rep):
    contact = ContactFactory(owner=rep, first_name="Ada", title="Countess", email="ada@x.example")
    response = api(rep).patch(
        f"/api/v1/contacts/{contact.pk}/",
        {"emails": ["new@x.example", "ada@x.example"], "unsubscribed": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["email"] == "new@x.example"
    contact.refresh_from_db()
    assert (contact.first_name, contact.title, contact.unsubscribed) == ("Ada", "Countess", True)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"first_name": "A", "email": "not-an-email"}, "email"),
        ({"first_name": "A", "emails": "a@x.example"}, "emails"),
        ({"first_name": "A", "emails": [f"p{n}@x.example" for n in range(21)]}, "emails"),
        ({"first_name": "A", "email": "taken@x.example"}, "emails"),
        ({"first_name": "A", "account": 999999}, "account"),
        ({"first_name": "A", "owner": "other"}, "owner"),
        ({"first_name": "A" * 101}, "first_name"),
        ({"title": "no name and no e-mail"}, "first_name"),
        ({"first_name": "A", "unsubscribed": "perhaps"}, "unsubscribed"),
    ],
)
def test_bad_contact_input_is_a_400_naming_the_field_and_nothing_is_written(
    rep, other_rep, payload, field
):
    ContactFactory(owner=other_rep, email="taken@x.example")
    if payload.get("owner") == "other":
        payload = {**payload, "owner": other_rep.pk}
    response = api(rep).post("/api/v1/contacts/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Contact.objects.count() == 1


def test_a_contact_cannot_be_filed_at_a_hidden_account(rep, other_rep):
    hidden = AccountFactory(owner=other_rep)
    contact = ContactFactory(owner=rep)
    client = api(rep)
    response = client.patch(
        f"/api/v1/contacts/{contact.pk}/", {"account": hidden.pk}, format="json"
    )
    assert response.status_code == 400
    contact.refresh_from_db()
    assert contact.account is None


def test_read_scopes_cannot_write(rep):
    contact = ContactFactory(owner=rep, first_name="Ada")
    client = api(rep, ["contacts:read", "accounts:read"])
    assert client.post("/api/v1/contacts/", {"first_name": "x"}, format="json").status_code == 403
    assert (
        client.patch(f"/api/v1/contacts/{contact.pk}/", {"first_name": "x"}, format="json")
    ).status_code == 403
    assert client.post("/api/v1/accounts/", {"name": "x"}, format="json").status_code == 403
    assert api(rep, ["leads:read"]).get("/api/v1/contacts/").status_code == 403
    contact.refresh_from_db()
    assert contact.first_name == "Ada"
    assert Account.objects.exists() is False


# --- accounts ----------------------------------------------------------------------------------


def test_accounts_follow_the_account_rule(rep, other_rep, marketing):
    owned = AccountFactory(owner=rep)
    with_lead = AccountFactory(owner=other_rep)
    LeadFactory(owner=rep, account=with_lead)
    hidden = AccountFactory(owner=other_rep)
    ids = {row["id"] for row in results(api(rep).get("/api/v1/accounts/"))}
    assert ids == {owned.pk, with_lead.pk}
    assert api(rep).get(f"/api/v1/accounts/{hidden.pk}/").status_code == 404
    assert len(results(api(marketing).get("/api/v1/accounts/"))) == 3


def test_account_filters_and_query_count_at_two_sizes(rep, django_assert_num_queries):
    client = api(rep)
    client.get("/api/v1/accounts/")
    AccountFactory(owner=rep, name="Initech", domain="initech.example", is_customer=True)
    with django_assert_num_queries(2):
        assert len(results(client.get("/api/v1/accounts/"))) == 1
    for _ in range(30):
        AccountFactory(owner=rep)
    with django_assert_num_queries(2):
        assert len(results(client.get("/api/v1/accounts/"))) == 31
    assert len(results(client.get("/api/v1/accounts/", {"is_customer": "true"}))) == 1
    assert len(results(client.get("/api/v1/accounts/", {"domain": "INITECH.example"}))) == 1
    assert len(results(client.get("/api/v1/accounts/", {"search": "initech"}))) == 1


def test_creating_and_patching_an_account(rep, other_rep):
    client = api(rep)
    response = client.post(
        "/api/v1/accounts/", {"name": "Initech", "domain": "Initech.example"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["domain"], body["owner"]) == ("Initech", "initech.example", rep.pk)
    response = client.patch(f"/api/v1/accounts/{body['id']}/", {"is_customer": True}, format="json")
    assert response.json()["is_customer"] is True
    response = client.patch(
        f"/api/v1/accounts/{body['id']}/", {"owner": other_rep.pk}, format="json"
    )
    assert response.status_code == 400
    assert Account.objects.get().owner == rep
    entries = AuditLog.objects.filter(target_type="accounts.account").order_by("pk")
    assert list(entries.values_list("action", flat=True)) == ["account.create", "account.update"]


@pytest.mark.parametrize(
    "payload",
    [{}, {"name": ""}, {"name": "A", "employee_count": -1}, {"name": "x" * 201}, {"name": None}],
)
def test_bad_account_input_is_a_400_and_nothing_is_written(rep, payload):
    response = api(rep).post("/api/v1/accounts/", payload, format="json")
    assert response.status_code == 400
    assert Account.objects.exists() is False


def test_another_reps_account_cannot_be_patched(rep, other_rep):
    theirs = AccountFactory(owner=other_rep, name="Theirs")
    response = api(rep).patch(f"/api/v1/accounts/{theirs.pk}/", {"name": "Mine"}, format="json")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_the_schema_documents_the_new_operations(client, admin_user):
    client.force_login(admin_user)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/contacts/"])
    assert {"get", "patch"} <= set(paths["/api/v1/contacts/{id}/"])
    assert {"get", "post"} <= set(paths["/api/v1/accounts/"])
    assert {"get", "patch"} <= set(paths["/api/v1/accounts/{id}/"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/activities/{id}/"])
