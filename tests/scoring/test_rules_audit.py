"""Scoring rules created (one by one or installed as a set), deleted, and the MQL threshold and
decay settings leave audit entries that say what the rule or setting was."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import AuditLog, OrgSettings
from scoring import services
from scoring.models import ScoringRule

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}

VP_RULE = {
    "name": "VPs",
    "category": "fit",
    "field": "title",
    "operator": "contains",
    "value": "VP",
    "points": 10,
}
VP_AUDITED = {
    "name": "VPs",
    "category": "fit",
    "points": 10,
    "field": "title",
    "operator": "contains",
    "value": "VP",
    "active": True,
}


def test_a_created_rule_is_audited_with_its_definition(marketing):
    rule = services.create_rule(by=marketing, **VP_RULE)
    entry = AuditLog.objects.get(action="scoring_rule.create")
    assert (entry.actor, entry.target_type, entry.target_id, entry.target_label) == (
        marketing,
        "scoring.scoringrule",
        str(rule.pk),
        "VPs (+10)",
    )
    assert entry.changes == {name: [None, value] for name, value in VP_AUDITED.items()}


def test_a_deleted_rule_is_audited_with_what_it_was(client, marketing):
    rule = services.create_rule(by=marketing, **VP_RULE)
    client.force_login(marketing)
    # when
    client.post(reverse("scoring:delete_rule", args=[rule.pk]), headers=HTMX)
    # then
    assert ScoringRule.objects.exists() is False
    entry = AuditLog.objects.get(action="scoring_rule.delete")
    assert (entry.actor, entry.target_id, entry.target_label) == (
        marketing,
        str(rule.pk),
        "VPs (+10)",
    )
    assert entry.changes == {name: [value, None] for name, value in VP_AUDITED.items()}


def test_deleting_a_rule_twice_audits_it_once(marketing):
    rule = services.create_rule(by=marketing, **VP_RULE)
    services.delete_rule(rule=rule, by=marketing)
    services.delete_rule(rule=rule, by=marketing)
    assert AuditLog.objects.filter(action="scoring_rule.delete").count() == 1


def test_installing_a_rule_set_audits_each_rule_in_constant_queries(
    marketing, django_assert_max_num_queries
):
    for size in (2, 30):
        rules = [VP_RULE | {"name": f"Rule {size}-{i}", "points": i} for i in range(size)]
        with django_assert_max_num_queries(12):
            services.install_rules(rules=rules, by=marketing, change="Imported")
    entries = AuditLog.objects.filter(action="scoring_rule.create")
    assert entries.count() == 32
    rule = ScoringRule.objects.get(name="Rule 30-7")
    entry = entries.get(target_id=str(rule.pk))
    assert (entry.actor, entry.target_label, entry.bulk_count) == (marketing, "Rule 30-7 (+7)", 30)
    assert entry.changes["points"] == [None, 7]


def test_threshold_and_decay_changes_are_audited_once_per_change(client, marketing):
    OrgSettings.load()
    client.force_login(marketing)
    form = {"mql_threshold": "40", "decay_percent": "25", "decay_days": "14"}
    client.post(reverse("scoring:save_settings"), form, headers=HTMX)
    client.post(reverse("scoring:save_settings"), form, headers=HTMX)  # same values again
    entry = AuditLog.objects.get(action="org_settings.update")
    assert (entry.actor, entry.target_type, entry.target_label) == (
        marketing,
        "crm.orgsettings",
        "Organisation settings",
    )
    assert entry.changes == {"mql_threshold": [50, 40], "engagement_decay_days": [30, 14]}


def test_a_refused_settings_change_is_not_audited(client, marketing):
    client.force_login(marketing)
    bad = {"mql_threshold": "0", "decay_percent": "150", "decay_days": "30"}
    assert client.post(reverse("scoring:save_settings"), bad, headers=HTMX).status_code == 422
    assert AuditLog.objects.exists() is False
