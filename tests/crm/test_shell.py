from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def test_logged_in_user_sees_navigation_role_team_and_unread_count(client, rep):
    NotificationFactory.create_batch(3, recipient=rep)
    client.force_login(rep)
    html = client.get("/").content.decode()
    for label in ("Leads", "Board", "Forecast", "Reports", "Settings"):
        assert f">{label}</a>" in html
    assert "Sales rep" in html
    assert "Team A" in html
    assert 'data-testid="unread-count">3<' in html


def test_bell_fragment_and_mark_read(client, rep):
    NotificationFactory.create_batch(2, recipient=rep)
    client.force_login(rep)
    bell = client.get(reverse("crm:notification_bell"), headers={"HX-Request": "true"})
    assert 'data-testid="unread-count">2<' in bell.content.decode()
    client.post(reverse("crm:mark_notifications_read"), headers={"HX-Request": "true"})
    bell = client.get(reverse("crm:notification_bell"), headers={"HX-Request": "true"})
    assert "unread-count" not in bell.content.decode()


@pytest.mark.parametrize("count", [1, 30])
def test_dashboard_query_count_is_constant(client, rep, count, django_assert_max_num_queries):
    from tests.factories import ActivityFactory, LeadFactory

    for lead in LeadFactory.create_batch(count, owner=rep, stage="srl"):
        ActivityFactory(owner=rep, lead=lead, kind="task", due_at=lead.created_at)
    client.force_login(rep)
    with django_assert_max_num_queries(8):
        response = client.get("/")
    assert response.status_code == 200


def test_every_dashboard_item_opens_its_record(client, rep):
    from tests.factories import ActivityFactory, LeadFactory, OpportunityFactory

    lead = LeadFactory(owner=rep, stage="srl", first_name="Ada", last_name="Quartz")
    deal = OpportunityFactory(owner=rep, name="Quartz renewal", is_stale=True)
    ActivityFactory(owner=rep, lead=lead, kind="task", subject="Call Ada", due_at=lead.created_at)
    ActivityFactory(
        owner=rep,
        lead=None,
        opportunity=deal,
        kind="task",
        subject="Send quote",
        due_at=lead.created_at,
    )
    client.force_login(rep)
    html = client.get("/").content.decode()
    lead_url, deal_url = f"/leads/{lead.pk}/", f"/pipeline/opportunities/{deal.pk}/"
    assert f'<a href="{lead_url}">Call Ada</a>' in html  # the task, to the lead it is about
    assert f'<a href="{deal_url}">Send quote</a>' in html
    assert f'<a href="{lead_url}">Ada Quartz</a>' in html  # the new lead
    assert f'<a href="{deal_url}">Quartz renewal</a>' in html  # the stale deal


def test_login_and_logout(client, rep):
    response = client.post("/login/", {"username": rep.username, "password": "pw"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302


def test_wrong_password_shows_an_error(client, rep):
    response = client.post("/login/", {"username": rep.username, "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_every_page_names_its_icon_and_the_icon_is_served(client):
    from django.contrib.staticfiles import finders

    html = client.get("/login/").content.decode()
    assert '<link rel="icon" type="image/svg+xml" href="/static/img/plumb.svg">' in html
    assert finders.find("img/plumb.svg") is not None
