"""Settings → Lead routing pages: rules editor, dry run, SLA attainment (and the query ceiling
of every page under /settings/routing/, the Follow-up page included)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import JobRun
from leads.models import AssignmentLog, AssignmentRule, Lead
from tests.factories import OpportunityFactory, UserFactory
from tests.leads.routing_factories import (
    AssignmentRuleFactory,
    MqlLeadFactory,
    make_team,
)

pytestmark = pytest.mark.django_db


def test_rep_and_marketing_cannot_open_routing_settings(client, rep, marketing):
    for user in (rep, marketing):
        client.force_login(user)
        assert client.get(reverse("routing:index")).status_code == 403
        assert client.post(reverse("routing:rule_create"), {"name": "x"}).status_code == 403
    assert AssignmentRule.objects.exists() is False


def test_settings_index_links_to_routing_for_managers(client, manager, rep):
    client.force_login(manager)
    assert reverse("routing:index") in client.get(reverse("crm:settings")).content.decode()
    client.force_login(rep)
    assert reverse("routing:index") not in client.get(reverse("crm:settings")).content.decode()


def test_manager_creates_a_rule_for_a_list_of_reps(client, manager):
    _, reps, _ = make_team("Sales", reps=2)
    client.force_login(manager)
    response = client.post(
        reverse("routing:rule_create"),
        {
            "name": "EMEA SMB",
            "priority": 10,
            "is_active": "on",
            "regions": "EMEA, emea ,",
            "countries": "DE,FR",
            "employee_min": 11,
            "employee_max": 50,
            "sources": ["web_form", "event"],
            "target_reps": [r.pk for r in reps],
            "method": "round_robin",
        },
    )
    assert response.status_code == 302
    rule = AssignmentRule.objects.get()
    assert (rule.regions, rule.countries, rule.sources) == (
        ["EMEA", "emea"],
        ["DE", "FR"],
        ["web_form", "event"],
    )
    assert set(rule.target_reps.all()) == set(reps)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "Choose a team or a list of reps"),
        ({"employee_min": 50, "employee_max": 10}, "upper bound is below"),
    ],
)
def test_invalid_rule_is_rerendered_with_422_and_nothing_saved(client, manager, extra, message):
    team, _, _ = make_team("Sales", reps=1)
    client.force_login(manager)
    data = {"name": "Bad", "priority": 1, "is_active": "on", "method": "round_robin", **extra}
    if extra:
        data["target_team"] = team.pk
    response = client.post(reverse("routing:rule_create"), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert AssignmentRule.objects.exists() is False


def test_second_fallback_rule_is_refused(client, manager):
    team, _, _ = make_team("Sales", reps=1)
    AssignmentRuleFactory(name="Catch all", is_fallback=True, target_team=team)
    client.force_login(manager)
    response = client.post(
        reverse("routing:rule_create"),
        {
            "name": "Another",
            "priority": 5,
            "is_active": "on",
            "is_fallback": "on",
            "method": "round_robin",
            "target_team": team.pk,
        },
    )
    assert response.status_code == 422
    assert "already the fallback" in response.content.decode()
    assert AssignmentRule.objects.count() == 1


def test_manager_edits_and_deletes_a_rule(client, manager):
    team, _, _ = make_team("Sales", reps=1)
    rule = AssignmentRuleFactory(name="Old", target_team=team)
    client.force_login(manager)
    response = client.post(
        reverse("routing:rule_edit", args=[rule.pk]),
        {
            "name": "New",
            "priority": 3,
            "method": "load_balanced",
            "target_team": team.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.priority, rule.method) == ("New", 3, "load_balanced")
    client.post(reverse("routing:rule_delete", args=[rule.pk]))
    assert AssignmentRule.objects.exists() is False


def test_dry_run_page_and_fragment_show_who_gets_the_next_leads(client, manager):
    team, reps, _ = make_team("Sales", reps=2)
    rule = AssignmentRuleFactory(name="All", target_team=team)
    MqlLeadFactory.create_batch(3, first_name="Zed")
    client.force_login(manager)
    page = client.get(reverse("routing:rule_dry_run", args=[rule.pk])).content.decode()
    assert page.count("<strong>") >= 3
    assert str(reps[0]) in page
    assert "round robin" in page
    fragment = client.get(reverse("routing:dry_run"), headers={"HX-Request": "true"})
    assert fragment.content.decode().lstrip().startswith('<div id="dry-run">')
    assert Lead.objects.filter(owner__isnull=False).exists() is False


@pytest.mark.parametrize("url_name", ["routing:index", "routing:dry_run", "stale:follow_up"])
def test_pages_run_in_constant_queries(client, admin_user, url_name, django_assert_max_num_queries):
    client.force_login(admin_user)
    for size in (2, 12):
        team, reps, _ = make_team(f"Team {size}", reps=size)
        AssignmentRuleFactory(name=f"Rule {size}", target_team=team, reps=reps[:2])
        MqlLeadFactory.create_batch(size)
        for rep in reps:
            AssignmentLog.objects.create(
                lead=MqlLeadFactory(owner=rep, assigned_at=timezone.now()),
                rep=rep,
                why="test",
                at=timezone.now(),
            )
            OpportunityFactory(owner=rep, is_stale=True, stale_since=timezone.now())
        JobRun.objects.create(job=f"job{size}", started_at=timezone.now())
        with django_assert_max_num_queries(22):
            assert client.get(reverse(url_name)).status_code == 200


def test_sla_attainment_table_on_the_routing_page(client, manager, rep):
    now = timezone.now()
    MqlLeadFactory(
        owner=rep,
        assigned_at=now - timedelta(hours=1),
        first_contacted_at=now - timedelta(minutes=58),
    )
    client.force_login(manager)
    page = client.get(reverse("routing:index")).content.decode()
    assert str(rep) in page
    assert "100%" in page


def test_unassignable_banner_tells_managers_how_many_leads_wait(client, manager):
    MqlLeadFactory.create_batch(2, unassignable_at=timezone.now())
    UserFactory(role="rep")
    client.force_login(manager)
    assert "2 MQL leads waiting" in client.get(reverse("routing:index")).content.decode()
