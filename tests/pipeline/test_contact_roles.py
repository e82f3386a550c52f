"""Deal contact roles: the services (one primary, once per deal, scope), and the deal page's
Contacts card (htmx fragment, bounded queries, 404 outside the scope)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from crm.models import AuditLog
from pipeline import services
from pipeline.models import ContactRole
from tests.factories import (
    AccountFactory,
    ContactFactory,
    ContactRoleFactory,
    OpportunityFactory,
)

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


@pytest.fixture
def deal(rep):
    return OpportunityFactory(owner=rep, account=AccountFactory(owner=rep))


def people(deal, n, **kwargs):
    return [ContactFactory(owner=deal.owner, account=deal.account, **kwargs) for _ in range(n)]


def roles(deal):
    return list(
        ContactRole.objects.filter(opportunity=deal)
        .order_by("pk")
        .values_list("contact_id", "role", "is_primary")
    )


# --- services --------------------------------------------------------------------------------


def test_the_first_contact_is_primary_and_marking_another_primary_moves_the_flag(rep, deal):
    ada, bob = people(deal, 2)
    services.add_contact_role(opportunity=deal, contact=ada, role="champion", by=rep)
    services.add_contact_role(
        opportunity=deal, contact=bob, role="economic_buyer", by=rep, is_primary=True
    )
    assert roles(deal) == [(ada.pk, "champion", False), (bob.pk, "economic_buyer", True)]
    ada_role = ContactRole.objects.get(contact=ada)
    services.update_contact_role(contact_role=ada_role, by=rep, is_primary=True, role="user")
    assert roles(deal) == [(ada.pk, "user", True), (bob.pk, "economic_buyer", False)]


def test_the_database_allows_one_primary_and_one_role_per_contact_per_deal(deal):
    ada, bob = people(deal, 2)
    ContactRoleFactory(opportunity=deal, contact=ada, is_primary=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactRoleFactory(opportunity=deal, contact=bob, is_primary=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactRoleFactory(opportunity=deal, contact=ada)
    assert ContactRole.objects.count() == 1


def test_a_contact_already_on_the_deal_a_hidden_contact_or_a_bad_role_is_refused(
    rep, other_rep, deal
):
    [ada] = people(deal, 1)
    services.add_contact_role(opportunity=deal, contact=ada, role="champion", by=rep)
    hidden = ContactFactory(owner=other_rep)
    cases = [
        ({"contact": ada, "role": "user"}, "already on the deal"),
        ({"contact": hidden, "role": "user"}, "contact you can see"),
        ({"contact": ada, "role": "boss"}, "Unknown role"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValidationError, match=message):
            services.add_contact_role(opportunity=deal, by=rep, **kwargs)
    assert roles(deal) == [(ada.pk, "champion", True)]


def test_role_changes_are_audited_on_the_deal(rep, deal):
    [ada] = people(deal, 1)
    added = services.add_contact_role(opportunity=deal, contact=ada, role="champion", by=rep)
    services.update_contact_role(contact_role=added, by=rep, role="decision_maker")
    services.remove_contact_role(contact_role=added, by=rep)
    entries = AuditLog.objects.filter(target_type="pipeline.opportunity", target_id=str(deal.pk))
    assert list(entries.order_by("pk").values_list("action", flat=True)) == [
        "opportunity.contact_added",
        "opportunity.contact_role",
        "opportunity.contact_removed",
    ]
    assert entries.get(action="opportunity.contact_role").changes == {
        "contact": ada.pk,
        "role": ["champion", "decision_maker"],
    }
    assert ContactRole.objects.exists() is False


# --- the deal page's card ------------------------------------------------------------------------


def test_the_deal_page_loads_the_contacts_card(client, rep, deal):
    client.force_login(rep)
    page = client.get(reverse("pipeline:opportunity", args=[deal.pk])).content.decode()
    assert f'hx-get="{reverse("pipeline:contact_roles", args=[deal.pk])}"' in page


def test_the_card_lists_roles_and_offers_the_accounts_other_people(
    client, rep, other_rep, deal, django_assert_num_queries
):
    ada, bob = people(deal, 2)
    ContactRoleFactory(opportunity=deal, contact=ada, role="champion", is_primary=True)
    ContactFactory(owner=other_rep, first_name="Stranger", account=AccountFactory(owner=other_rep))
    client.force_login(rep)
    url = reverse("pipeline:contact_roles", args=[deal.pk])
    with django_assert_num_queries(6):
        response = client.get(url, headers=HTMX)
    assert response.templates[0].name == "pipeline/_contact_roles.html"
    card = response.content.decode()
    assert str(ada) in card
    assert "primary" in card
    assert f'<option value="{bob.pk}">' in card
    assert "Stranger" not in card
    more = people(deal, 20)
    for contact in more:
        ContactRoleFactory(opportunity=deal, contact=contact)
    with django_assert_num_queries(6):
        response = client.get(url, headers=HTMX)
    assert len(response.context["contacts"].roles) == 21


def test_adding_a_contact_through_the_card_returns_the_card(client, rep, deal):
    [ada] = people(deal, 1, first_name="Ada")
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:contact_roles", args=[deal.pk]),
        {"contact": ada.pk, "role": "decision_maker"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert 'id="deal-contacts"' in response.content.decode()
    assert roles(deal) == [(ada.pk, "decision_maker", True)]


def test_changing_a_role_making_primary_and_removing_through_the_card(client, rep, deal):
    ada, bob = people(deal, 2)
    first = ContactRoleFactory(opportunity=deal, contact=ada, is_primary=True)
    second = ContactRoleFactory(opportunity=deal, contact=bob, role="user")
    client.force_login(rep)
    edit = reverse("pipeline:contact_role_edit", args=[deal.pk, second.pk])
    response = client.post(edit, {"role": "user", "is_primary": "true"}, headers=HTMX)
    assert response.status_code == 200
    assert roles(deal) == [(ada.pk, "champion", False), (bob.pk, "user", True)]
    client.post(
        reverse("pipeline:contact_role_edit", args=[deal.pk, first.pk]),
        {"role": "influencer"},
        headers=HTMX,
    )
    response = client.post(
        reverse("pipeline:contact_role_delete", args=[deal.pk, second.pk]), headers=HTMX
    )
    assert response.status_code == 200
    assert roles(deal) == [(ada.pk, "influencer", False)]


def test_bad_input_answers_422_with_the_card_and_changes_nothing(client, rep, other_rep, deal):
    [ada] = people(deal, 1)
    role = ContactRoleFactory(opportunity=deal, contact=ada, is_primary=True)
    hidden = ContactFactory(owner=other_rep)
    client.force_login(rep)
    add = reverse("pipeline:contact_roles", args=[deal.pk])
    for data in (
        {"contact": hidden.pk, "role": "user"},
        {"contact": ada.pk, "role": "user"},
        {"contact": "x", "role": "user"},
        {"contact": ada.pk, "role": "boss"},
    ):
        response = client.post(add, data, headers=HTMX)
        assert response.status_code == 422, data
        assert 'role="alert"' in response.content.decode()
    edit = reverse("pipeline:contact_role_edit", args=[deal.pk, role.pk])
    assert client.post(edit, {"role": "boss"}, headers=HTMX).status_code == 422
    assert roles(deal) == [(ada.pk, "champion", True)]


def test_without_htmx_the_card_redirects_to_the_deal_page(client, rep, deal):
    [ada] = people(deal, 1)
    client.force_login(rep)
    response = client.post(
        reverse("pipeline:contact_roles", args=[deal.pk]), {"contact": ada.pk, "role": "user"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("pipeline:opportunity", args=[deal.pk])
    assert roles(deal) == [(ada.pk, "user", True)]


def test_another_reps_deal_and_its_roles_are_404(client, rep, other_rep):
    theirs = OpportunityFactory(owner=other_rep)
    role = ContactRoleFactory(opportunity=theirs, contact=ContactFactory(owner=rep))
    mine = OpportunityFactory(owner=rep)
    client.force_login(rep)
    assert client.get(reverse("pipeline:contact_roles", args=[theirs.pk])).status_code == 404
    for name in ("contact_role_edit", "contact_role_delete"):
        for deal_pk in (theirs.pk, mine.pk):  # nor through a deal of one's own
            url = reverse(f"pipeline:{name}", args=[deal_pk, role.pk])
            assert client.post(url, {"role": "user"}, headers=HTMX).status_code == 404
    role.refresh_from_db()
    assert role.role == "champion"
