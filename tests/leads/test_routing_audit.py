"""Routing-rule changes are audited like stages and scoring rules: who, which rule, old → new."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm import audit
from crm.models import AuditLog
from leads.models import AssignmentRule
from tests.leads.routing_factories import AssignmentRuleFactory, make_team

pytestmark = pytest.mark.django_db


def rule_form(team, **overrides):
    data = {
        "name": "EMEA inbound",
        "priority": 20,
        "is_active": "on",
        "regions": "EMEA",
        "method": "round_robin",
        "target_team": team.pk if team is not None else None,
    }
    return {key: value for key, value in (data | overrides).items() if value is not None}


def test_creating_a_rule_is_audited_with_its_definition(client, manager):
    _, reps, _ = make_team("Sales", reps=2)
    client.force_login(manager)
    data = rule_form(None) | {"target_reps": [r.pk for r in reps]}
    assert client.post(reverse("routing:rule_create"), data).status_code == 302
    rule = AssignmentRule.objects.get()
    entry = AuditLog.objects.get(action="routing_rule.create")
    assert (entry.actor, entry.target_type, entry.target_id, entry.target_label) == (
        manager,
        "leads.assignmentrule",
        str(rule.pk),
        "EMEA inbound",
    )
    assert entry.changes == {
        "name": [None, "EMEA inbound"],
        "priority": [None, 20],
        "is_active": [None, True],
        "is_fallback": [None, False],
        "regions": [None, ["EMEA"]],
        "target_reps": [None, sorted(r.pk for r in reps)],
        "method": [None, "round_robin"],
    }


def test_reordering_disabling_and_enabling_are_audited_old_to_new(client, manager):
    team, _, _ = make_team("Sales", reps=1)
    rule = AssignmentRuleFactory(
        name="EMEA inbound", priority=20, regions=["EMEA"], target_team=team
    )
    url = reverse("routing:rule_edit", args=[rule.pk])
    client.force_login(manager)
    client.post(url, rule_form(team, priority=5))  # reorder: runs earlier now
    client.post(url, rule_form(team, priority=5, is_active=None))  # disable
    client.post(url, rule_form(team, priority=5))  # enable again
    entries = sorted(audit.history_for(rule), key=lambda entry: entry.pk)
    assert [(e.action, e.actor, e.changes) for e in entries] == [
        ("routing_rule.update", manager, {"priority": [20, 5]}),
        ("routing_rule.update", manager, {"is_active": [True, False]}),
        ("routing_rule.update", manager, {"is_active": [False, True]}),
    ]


def test_changing_the_target_records_both_sides(client, manager):
    team, reps, _ = make_team("Sales", reps=2)
    rule = AssignmentRuleFactory(
        name="EMEA inbound", priority=20, regions=["EMEA"], target_team=team
    )
    client.force_login(manager)
    data = rule_form(team, target_team=None) | {"target_reps": [reps[0].pk]}
    client.post(reverse("routing:rule_edit", args=[rule.pk]), data)
    entry = AuditLog.objects.get(action="routing_rule.update")
    assert entry.changes == {"target_team": [team.pk, None], "target_reps": [[], [reps[0].pk]]}


def test_saving_an_unchanged_rule_or_a_refused_one_writes_no_entry(client, manager):
    team, _, _ = make_team("Sales", reps=1)
    rule = AssignmentRuleFactory(
        name="EMEA inbound", priority=20, regions=["EMEA"], target_team=team
    )
    client.force_login(manager)
    url = reverse("routing:rule_edit", args=[rule.pk])
    assert client.post(url, rule_form(team)).status_code == 302
    refused = rule_form(team) | {"employee_min": 50, "employee_max": 10}
    assert client.post(url, refused).status_code == 422
    assert AuditLog.objects.filter(action__startswith="routing_rule.").exists() is False


def test_deleting_a_rule_keeps_its_definition_in_the_trail(client, manager):
    team, _, _ = make_team("Sales", reps=1)
    rule = AssignmentRuleFactory(
        name="EMEA inbound", priority=20, regions=["EMEA"], target_team=team
    )
    pk = rule.pk
    client.force_login(manager)
    client.post(reverse("routing:rule_delete", args=[pk]))
    assert AssignmentRule.objects.exists() is False
    entry = AuditLog.objects.get(action="routing_rule.delete")
    assert (entry.actor, entry.target_id, entry.target_label) == (manager, str(pk), "EMEA inbound")
    assert entry.changes == {
        "name": ["EMEA inbound", None],
        "priority": [20, None],
        "is_active": [True, None],
        "is_fallback": [False, None],
        "regions": [["EMEA"], None],
        "target_team": [team.pk, None],
        "method": ["round_robin", None],
    }
