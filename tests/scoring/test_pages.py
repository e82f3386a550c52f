"""Scoring settings page (inline add/edit/disable, preview, progress), backtest, lead panel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from crm.models import OrgSettings
from leads.models import Lead
from pipeline.models import Stage
from scoring import selectors, services
from scoring.models import RescoreJob, RuleSetVersion, ScoringRule
from tests.factories import LeadFactory, OpportunityFactory, PipelineFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def us_rule(by, points=60):
    return services.create_rule(
        by=by,
        name="US",
        category="fit",
        field="country",
        operator="equals",
        value="US",
        points=points,
    )


def rule_post(**overrides):
    data = {
        "name": "Pricing visit",
        "category": "engagement",
        "event_type": "page_viewed",
        "url_pattern": "/pricing",
        "points": "15",
        "active": "on",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("size", [3, 12])
def test_settings_page_lists_rules_with_bounded_queries(
    client, marketing, size, django_assert_max_num_queries
):
    for i in range(size):
        ScoringRule.objects.create(
            name=f"R{i}", category="engagement", event_type="email_opened", points=i
        )
    client.force_login(marketing)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("scoring:settings"))
    assert response.status_code == 200
    body = response.content.decode()
    assert len(re.findall(r'<tr id="rule-\d+"', body)) == size
    assert 'id="rule-form"' in body


def test_rep_reads_rules_but_cannot_change_them(client, rep, marketing):
    rule = us_rule(marketing)
    client.force_login(rep)
    body = client.get(reverse("scoring:settings")).content.decode()
    assert "US" in body
    assert 'id="read-only-note"' in body
    assert 'id="rule-form"' not in body
    assert client.post(reverse("scoring:add_rule"), rule_post(), headers=HTMX).status_code == 403
    assert (
        client.post(reverse("scoring:toggle_rule", args=[rule.pk]), headers=HTMX).status_code == 403
    )
    assert (
        client.post(reverse("scoring:delete_rule", args=[rule.pk]), headers=HTMX).status_code == 403
    )
    assert (
        client.post(
            reverse("scoring:save_settings"),
            {"mql_threshold": 1, "decay_percent": 0, "decay_days": 1},
        ).status_code
        == 403
    )
    assert client.get(reverse("scoring:backtest")).status_code == 403
    assert ScoringRule.objects.get().active is True
    assert RuleSetVersion.objects.count() == 1
    assert OrgSettings.load().mql_threshold == 50


def test_marketing_adds_a_rule_inline_and_sees_the_table_and_progress(client, marketing):
    client.force_login(marketing)
    response = client.post(reverse("scoring:add_rule"), rule_post(), headers=HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="rules-body" hx-swap-oob="true"' in body
    assert "Pricing visit" in body
    assert 'id="rescore-progress"' in body
    rule = ScoringRule.objects.get()
    assert (rule.event_type, rule.url_pattern, rule.points) == ("page_viewed", "/pricing", 15)


def test_invalid_rule_rerenders_with_422_and_nothing_is_saved(client, marketing):
    client.force_login(marketing)
    response = client.post(
        reverse("scoring:add_rule"),
        rule_post(category="fit", field="employee_count", operator="between", value="50, 10"),
        headers=HTMX,
    )
    assert response.status_code == 422
    assert "lower bound must not exceed" in response.content.decode()
    assert ScoringRule.objects.exists() is False


def test_inline_edit_and_disable(client, admin_user):
    rule = us_rule(admin_user, points=5)
    client.force_login(admin_user)
    edit = client.get(reverse("scoring:edit_rule", args=[rule.pk]), headers=HTMX)
    assert f'id="rule-{rule.pk}"' in edit.content.decode()
    saved = client.post(
        reverse("scoring:edit_rule", args=[rule.pk]),
        {
            "name": "US or CA",
            "category": "fit",
            "field": "country",
            "operator": "in",
            "value": "US, CA",
            "points": "8",
            "active": "on",
        },
        headers=HTMX,
    )
    assert saved.status_code == 200
    rule.refresh_from_db()
    assert (rule.name, rule.value, rule.points) == ("US or CA", ["US", "CA"], 8)
    toggled = client.post(reverse("scoring:toggle_rule", args=[rule.pk]), headers=HTMX)
    assert "Enable" in toggled.content.decode()
    rule.refresh_from_db()
    assert rule.active is False
    assert RuleSetVersion.objects.count() == 3


def test_preview_counts_leads_that_would_be_mql_without_saving(client, marketing):
    LeadFactory.create_batch(3, country="US")
    LeadFactory(country="DE")
    client.force_login(marketing)
    response = client.post(
        reverse("scoring:preview"),
        rule_post(category="fit", field="country", operator="equals", value="us", points="55"),
        headers=HTMX,
    )
    body = response.content.decode()
    assert "<strong>3</strong> of 4 current leads would score ≥ 50" in body
    assert ScoringRule.objects.exists() is False
    assert Lead.objects.filter(score__gt=0).exists() is False


def test_preview_of_an_edit_replaces_the_rule(client, marketing):
    rule = us_rule(marketing, points=60)
    LeadFactory.create_batch(2, country="US")
    client.force_login(marketing)
    data = rule_post(
        category="fit", field="country", operator="equals", value="US", points="10", rule_id=rule.pk
    )
    body = client.post(reverse("scoring:preview"), data, headers=HTMX).content.decode()
    assert "<strong>0</strong> of 2 current leads" in body


def test_threshold_change_is_saved_and_validated(client, marketing):
    client.force_login(marketing)
    bad = client.post(
        reverse("scoring:save_settings"),
        {"mql_threshold": "0", "decay_percent": "150", "decay_days": "30"},
        headers=HTMX,
    )
    assert bad.status_code == 422
    assert OrgSettings.load().mql_threshold == 50
    ok = client.post(
        reverse("scoring:save_settings"),
        {"mql_threshold": "40", "decay_percent": "10", "decay_days": "14"},
        headers=HTMX,
    )
    assert ok.status_code == 200
    org = OrgSettings.load()
    assert (org.mql_threshold, org.engagement_decay_percent, org.engagement_decay_days) == (
        40,
        10,
        14,
    )


def test_progress_fragment_polls_while_a_job_runs(client, marketing):
    us_rule(marketing)  # in a test transaction the job stays queued (on_commit never fires)
    client.force_login(marketing)
    body = client.get(reverse("scoring:progress"), headers=HTMX).content.decode()
    job = RescoreJob.objects.get()
    assert job.status == "queued"
    assert 'hx-trigger="every 1s"' in body
    assert f"0 / {job.total}" in body


@pytest.mark.parametrize("old_leads", [0, 10])
def test_backtest_compares_matching_and_other_leads(
    client, marketing, old_leads, django_assert_max_num_queries
):
    us_rule(marketing, points=60)
    for lead in LeadFactory.create_batch(old_leads, country="US"):  # outside the period
        Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(days=30))
    won_stage_pipeline = PipelineFactory()
    won = Stage.objects.get(pipeline=won_stage_pipeline, kind="won")
    converted = LeadFactory(country="US", sql_at=timezone.now(), converted_at=timezone.now())
    OpportunityFactory(lead=converted, pipeline=won_stage_pipeline, stage=won)
    LeadFactory(country="US")
    LeadFactory(country="DE", sql_at=timezone.now())
    LeadFactory(country="DE")
    client.force_login(marketing)
    today = timezone.localdate()
    with django_assert_max_num_queries(15):
        response = client.get(
            reverse("scoring:backtest"), {"start": today - timedelta(days=1), "end": today}
        )
    result = response.context["result"]
    row = result["rules"][0]
    assert (row["matching"], row["matching_sql_rate"], row["matching_won_rate"]) == (2, 50.0, 50.0)
    assert (row["other"], row["other_sql_rate"], row["other_won_rate"]) == (2, 50.0, 0.0)
    at_50 = next(t for t in result["thresholds"] if t["threshold"] == 50)
    assert (at_50["mqls"], at_50["reached_sql"], at_50["share"], at_50["is_current"]) == (
        2,
        1,
        50.0,
        True,
    )
    assert next(t for t in result["thresholds"] if t["threshold"] == 70)["share"] is None


def test_backtest_rejects_a_reversed_period(client, marketing):
    client.force_login(marketing)
    response = client.get(reverse("scoring:backtest"), {"start": "2026-02-01", "end": "2026-01-01"})
    assert response.status_code == 422
    assert "must start before it ends" in response.content.decode()


def test_lead_panel_shows_breakdown_version_and_sparkline(marketing, django_assert_max_num_queries):
    rule = us_rule(marketing, points=10)
    lead = LeadFactory(country="US")
    services.score_leads(lead_ids=[lead.pk])
    services.update_rule(rule=rule, by=marketing, points=20)
    services.score_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    with django_assert_max_num_queries(3):
        panel = selectors.lead_score_panel(lead=lead)
    html = render_to_string("scoring/_lead_score.html", {"score_panel": panel})
    assert 'id="lead-score-value">20<' in html
    assert "<polyline" in html
    assert f"rules v{lead.score_version}" in html
    assert "US" in html
    assert "+20" in html


@pytest.mark.parametrize("edits", [1, 25])
def test_editors_see_who_changed_the_scoring_model_and_how(
    client, marketing, admin_user, edits, django_assert_max_num_queries
):
    # given a rule created, edited `edits` times, disabled and removed, and a threshold change
    rule = us_rule(marketing, points=60)
    for n in range(edits):
        services.update_rule(rule=rule, by=admin_user, points=61 + n)
    services.update_rule(rule=rule, by=marketing, active=False)
    org = OrgSettings.load()
    services.update_settings(
        by=admin_user,
        mql_threshold=40,
        decay_percent=org.engagement_decay_percent,
        decay_days=org.engagement_decay_days,
    )
    services.delete_rule(rule=rule, by=marketing)
    client.force_login(marketing)
    # when (session, user, one read of the audit trail)
    with django_assert_max_num_queries(4):
        response = client.get(reverse("scoring:changes"), headers=HTMX)
    # then newest first, each with who, what and old → new
    assert response.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))
    removed = text.index(f"{marketing} removed the rule US (+{60 + edits})")
    threshold = text.index(f"{admin_user} changed threshold and decay MQL threshold : 50 → 40")
    disabled = text.index(f"{marketing} changed the rule US (+{60 + edits}) active : True → False")
    last_edit = text.index(f"points : {60 + edits - 1} → {60 + edits}")
    assert removed < threshold < disabled < last_edit
    if edits < 20:  # the oldest fall off the list past 20 entries
        assert (
            f"{marketing} added the rule US (+60) category: fit · field: country · "
            "operator: equals · value: US · points: 60 · active: True"
        ) in text
        assert "points : 60 → 61" in text


def test_the_change_list_is_for_editors_only(client, rep, manager):
    for user in (rep, manager):
        client.force_login(user)
        assert client.get(reverse("scoring:changes"), headers=HTMX).status_code == 403
        assert "scoring:changes" not in client.get(reverse("scoring:settings")).content.decode()


def test_a_saved_change_tells_the_page_to_reload_its_recent_changes(client, marketing):
    import json

    client.force_login(marketing)
    added = client.post(reverse("scoring:add_rule"), rule_post(), headers=HTMX)
    rule = ScoringRule.objects.get()
    toggled = client.post(reverse("scoring:toggle_rule", args=[rule.pk]), headers=HTMX)
    refused = client.post(reverse("scoring:add_rule"), rule_post(points="many"), headers=HTMX)
    for response in (added, toggled):
        assert json.loads(response.headers["HX-Trigger"]) == {"scoringChanged": {}}
    assert refused.status_code == 422
    assert "HX-Trigger" not in refused.headers
