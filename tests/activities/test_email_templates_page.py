"""Settings → E-mail templates: each user's own, shared ones by admins and managers; merge
fields checked when saved."""

from __future__ import annotations

import pytest
from django.urls import reverse

from activities.models import EmailTemplate
from crm.models import AuditLog
from tests.activities.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("size", [2, 30])
def test_the_list_shows_mine_and_the_shared_ones_in_bounded_queries(
    client, rep, other_rep, size, django_assert_max_num_queries
):
    mine = [EmailTemplateFactory(owner=rep) for _ in range(size)]
    shared = [EmailTemplateFactory(owner=None) for _ in range(size)]
    theirs = EmailTemplateFactory(owner=other_rep)
    client.force_login(rep)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("activities:email_templates"))
    html = response.content.decode()
    for template in mine + shared:
        assert f'id="email-template-{template.pk}"' in html
    assert f'id="email-template-{theirs.pk}"' not in html
    # reps edit their own, not the shared ones
    assert reverse("activities:email_template_edit", args=[mine[0].pk]) in html
    assert reverse("activities:email_template_edit", args=[shared[0].pk]) not in html
    assert "{{ lead.first_name }}" in html  # the merge fields are listed


def test_a_rep_saves_a_template_of_their_own(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("activities:email_templates"),
        {"name": "Intro", "subject": "Hi {{ lead.first_name }}", "body": "{{ sender.full_name }}"},
    )
    assert response.status_code == 302
    template = EmailTemplate.objects.get()
    assert (template.owner, template.created_by) == (rep, rep)
    assert AuditLog.objects.filter(action="email_template.create").count() == 1


def test_a_manager_shares_one(client, manager):
    client.force_login(manager)
    data = {"name": "Team intro", "subject": "Hi", "body": "x", "shared": "on"}
    assert client.post(reverse("activities:email_templates"), data).status_code == 302
    assert EmailTemplate.objects.get().owner is None


def test_a_rep_cannot_share_even_by_posting_the_field(client, rep):
    client.force_login(rep)
    data = {"name": "Mine", "subject": "Hi", "body": "x", "shared": "on"}
    assert client.post(reverse("activities:email_templates"), data).status_code == 302
    assert EmailTemplate.objects.get().owner == rep


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Hi {{ lead.shoe_size }}", "Unknown merge field {{ lead.shoe_size }}"),
        ("{% load static %}Hi", "“{%” is not allowed"),
    ],
)
def test_a_bad_template_is_shown_back_with_the_reason(client, rep, body, message):
    client.force_login(rep)
    data = {"name": "Bad", "subject": "Hi", "body": body}
    response = client.post(reverse("activities:email_templates"), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert EmailTemplate.objects.exists() is False


def test_edit_and_delete_my_own_but_not_a_shared_one_nor_someone_elses(client, rep, other_rep):
    mine = EmailTemplateFactory(owner=rep, name="Mine")
    shared = EmailTemplateFactory(owner=None, name="Shared")
    theirs = EmailTemplateFactory(owner=other_rep, name="Theirs")
    client.force_login(rep)
    data = {"name": "Renamed", "subject": "Hi", "body": "x"}
    edit = "activities:email_template_edit"
    assert client.post(reverse(edit, args=[mine.pk]), data).status_code == 302
    for other in (shared, theirs):
        assert client.post(reverse(edit, args=[other.pk]), data).status_code == 404
        assert (
            client.post(reverse("activities:email_template_delete", args=[other.pk])).status_code
            == 404
        )
    assert set(EmailTemplate.objects.values_list("name", flat=True)) == {
        "Renamed",
        "Shared",
        "Theirs",
    }
    assert (
        client.post(reverse("activities:email_template_delete", args=[mine.pk])).status_code == 302
    )
    assert not EmailTemplate.objects.filter(pk=mine.pk).exists()
