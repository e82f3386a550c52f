"""Events in → scores out: the worked example, idempotency, MQL once, history, windows."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from crm.models import OrgSettings
from leads.models import Lead, LeadTransition
from scoring import services
from scoring.models import EngagementEvent, RescoreJob, RuleSetVersion, ScoreHistory, ScoringRule
from tests.factories import LeadFactory, make_token
from tests.scoring.factories import explained, worked_example_rules

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def event(n, lead, type_, url="", **extra):
    return {
        "id": f"e-{n}",
        "lead": {"email": lead.email} if isinstance(lead, Lead) else lead,
        "type": type_,
        "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "properties": {"url": url} if url else {},
        **extra,
    }


@pytest.fixture
def token(marketing):
    return make_token(marketing, ["events:write"])


@pytest.fixture
def high_threshold():
    OrgSettings.objects.update_or_create(pk=1, defaults={"mql_threshold": 1000})


def test_worked_example_scores_76_and_19(client, marketing, token, high_threshold):
    # given the rules
    worked_example_rules(by=marketing)
    eager, casual = LeadFactory(), LeadFactory()
    events = [event(f"d{i}", eager, "content_downloaded") for i in range(3)]
    events += [event(f"o{i}", eager, "email_opened", campaign="welcome") for i in range(3)]
    events += [event(f"c{i}", eager, "email_clicked") for i in range(3)]
    events += [event("t", eager, "trial_started")]
    events += [event("p", casual, "page_viewed", url="https://plumb.example/pricing")]
    events += [event(f"co{i}", casual, "email_opened") for i in range(2)]
    # when
    response = client.post(URL, events, content_type="application/json", headers=auth(token))
    # then
    assert response.status_code == 200, response.json()
    assert response.json()["created"] == 13
    eager.refresh_from_db()
    casual.refresh_from_db()
    assert (eager.score, eager.engagement_score, eager.fit_score) == (76, 76, 0)
    assert casual.score == 19
    lines = {line["name"]: (line["count"], line["points"]) for line in explained(eager)}
    assert lines == {
        "Content download": (3, 30),
        "Welcome e-mail opened": (3, 6),
        "E-mail click": (3, 15),
        "Free trial": (1, 25),
    }
    assert eager.score_version == RuleSetVersion.objects.latest("pk").pk
    assert eager.last_engaged_at is not None


def test_replayed_event_changes_nothing(client, marketing, token, high_threshold):
    worked_example_rules(by=marketing)
    lead = LeadFactory()
    first = client.post(
        URL, event(1, lead, "trial_started"), content_type="application/json", headers=auth(token)
    )
    lead.refresh_from_db()
    history = ScoreHistory.objects.count()
    # when the same event is sent again (alone, and twice in one batch)
    again = client.post(
        URL,
        [
            event(1, lead, "trial_started"),
            event(2, lead, "trial_started"),
            event(2, lead, "trial_started"),
        ],
        content_type="application/json",
        headers=auth(token),
    )
    # then
    body = again.json()
    assert (body["created"], body["duplicate"], body["failed"]) == (1, 2, 0)
    assert body["results"][0] == {
        "index": 0,
        "status": "duplicate",
        "id": first.json()["results"][0]["id"],
        "errors": {},
    }
    assert body["results"][2]["id"] == body["results"][1]["id"]
    assert EngagementEvent.objects.count() == 2
    lead.refresh_from_db()
    assert lead.score == 50
    assert ScoreHistory.objects.count() == history + 1


def test_unknown_lead_fails_that_event_only_and_create_lead_creates_a_new_lead(
    client, marketing, token, high_threshold
):
    worked_example_rules(by=marketing)
    known = LeadFactory()
    response = client.post(
        URL,
        [
            event(1, known, "trial_started"),
            event(2, {"email": "ghost@nowhere.example"}, "trial_started"),
            event(3, {"external_id": "crm-9"}, "trial_started"),
            event(
                4,
                {"email": "New@Prospect.example", "external_id": "crm-10"},
                "trial_started",
                create_lead=True,
            ),
            {"id": "5", "lead": {}, "type": "Bad Type!", "occurred_at": "yesterday"},
        ],
        content_type="application/json",
        headers=auth(token),
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "created",
        "failed",
        "failed",
        "created",
        "failed",
    ]
    assert "No lead with e-mail ghost@nowhere.example" in body["results"][1]["errors"]["lead"][0]
    assert "create_lead" in body["results"][1]["errors"]["lead"][0]
    assert set(body["results"][4]["errors"]) == {"lead", "type", "occurred_at"}
    created = Lead.objects.get(email="new@prospect.example")
    assert (created.stage, created.source, created.external_id, created.score) == (
        "new",
        "event",
        "crm-10",
        25,
    )
    assert EngagementEvent.objects.count() == 2


def test_events_by_external_id_update_that_lead(client, marketing, token, high_threshold):
    worked_example_rules(by=marketing)
    lead = LeadFactory(external_id="crm-1")
    client.post(
        URL,
        event(1, {"external_id": "crm-1"}, "content_downloaded"),
        content_type="application/json",
        headers=auth(token),
    )
    lead.refresh_from_db()
    assert lead.score == 10


def test_an_occurred_at_without_an_offset_is_read_as_utc(client, marketing, token, high_threshold):
    """Marketing tools often send local-looking timestamps with no offset: the event is taken
    as UTC (the API's documented default), not refused and not a server error."""
    lead = LeadFactory()
    naive = (timezone.now() - timedelta(hours=2)).replace(tzinfo=None, microsecond=0)
    body = [{**event(1, lead, "email_opened"), "occurred_at": naive.isoformat()}]
    response = client.post(URL, body, content_type="application/json", headers=auth(token))
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1
    stored = EngagementEvent.objects.get(external_id="e-1").occurred_at
    assert stored == naive.replace(tzinfo=UTC)


@pytest.mark.parametrize("flag", [[], "yes", 1, None])
def test_create_lead_must_be_a_boolean(client, marketing, token, flag):
    body = [{**event(1, {"email": "new@x.example"}, "email_opened"), "create_lead": flag}]
    response = client.post(URL, body, content_type="application/json", headers=auth(token))
    assert response.status_code == 207
    assert response.json()["results"][0]["errors"] == {
        "create_lead": ["create_lead must be true or false."]
    }
    assert Lead.objects.filter(email="new@x.example").exists() is False


def test_events_are_json_only(client, token):
    response = client.post(URL, {"id": "e-1"}, headers=auth(token))  # a form post
    assert response.status_code == 415
    assert EngagementEvent.objects.exists() is False


def test_more_than_1000_events_is_413_and_nothing_is_written(client, token):
    lead = LeadFactory()
    response = client.post(
        URL,
        [event(i, lead, "email_opened") for i in range(1001)],
        content_type="application/json",
        headers=auth(token),
    )
    assert response.status_code == 413
    assert EngagementEvent.objects.exists() is False


@pytest.mark.parametrize("body", [[], {}, '"text"', "5"])
def test_not_an_event_is_400(client, token, body):
    response = client.post(URL, body, content_type="application/json", headers=auth(token))
    assert response.status_code == 400
    assert "event" in response.json()["detail"]


def test_crossing_the_threshold_makes_the_lead_mql_once(client, marketing, token):
    # given threshold 50 and the worked example
    worked_example_rules(by=marketing)
    lead = LeadFactory()
    client.post(
        URL,
        [event(1, lead, "trial_started"), event(2, lead, "form_submitted", url="/contact")],
        content_type="application/json",
        headers=auth(token),
    )
    lead.refresh_from_db()
    assert (lead.stage, lead.score) == ("new", 40)
    # when the lead crosses (40 + 2 × 5 = 50)
    client.post(
        URL,
        [event(3, lead, "email_clicked"), event(4, lead, "email_clicked")],
        content_type="application/json",
        headers=auth(token),
    )
    lead.refresh_from_db()
    assert (lead.stage, lead.score) == ("mql", 50)
    assert LeadTransition.objects.filter(lead=lead, to_stage="mql").count() == 1
    # and drops below it, then crosses again after being recycled
    client.post(
        URL,
        [event(i, lead, "unsubscribed") for i in range(10, 20)],
        content_type="application/json",
        headers=auth(token),
    )
    lead.refresh_from_db()
    assert lead.score < 50
    assert lead.stage == "mql"  # a drop never demotes
    Lead.objects.filter(pk=lead.pk).update(stage="recycled")
    client.post(
        URL,
        [event(i, lead, "trial_started") for i in range(30, 35)],
        content_type="application/json",
        headers=auth(token),
    )
    lead.refresh_from_db()
    assert lead.stage == "recycled"  # previously MQL'd (mql_at set): not re-MQL'd
    assert LeadTransition.objects.filter(lead=lead, to_stage="mql").count() == 1


def test_window_counts_only_recent_events_and_cap_limits_count(marketing, high_threshold):
    services.create_rule(
        by=marketing,
        name="Opens",
        category="engagement",
        event_type="email_opened",
        points=3,
        window_days=7,
        max_occurrences=2,
    )
    lead = LeadFactory()
    now = timezone.now()
    for i, days in enumerate([1, 2, 3, 20]):
        EngagementEvent.objects.create(
            external_id=f"x{i}",
            lead=lead,
            type="email_opened",
            occurred_at=now - timedelta(days=days),
        )
    services.score_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert lead.score == 6  # three in the window, capped at two
    assert explained(lead) == [
        {
            "rule": ScoringRule.objects.get(name="Opens").pk,
            "name": "Opens",
            "category": "engagement",
            "count": 2,
            "points": 6,
        }
    ]


def test_scattered_and_dense_batches_count_the_same_events(marketing, high_threshold):
    """A batch of far-apart leads (an event batch) and a dense pk range (a rescore batch) are
    counted by different queries on PostgreSQL; both give every rule the same count."""
    services.create_rule(
        by=marketing,
        name="Recent pricing",
        category="engagement",
        event_type="page_viewed",
        url_pattern="/pricing",
        points=4,
        window_days=7,
    )
    services.create_rule(
        by=marketing, name="Opens", category="engagement", event_type="email_opened", points=1
    )
    leads = LeadFactory.create_batch(9)
    now = timezone.now()
    for n, (lead, days, type_, url) in enumerate(
        [
            (leads[0], 1, "page_viewed", "https://x.example/pricing"),
            (leads[0], 30, "page_viewed", "https://x.example/pricing"),  # outside the window
            (leads[0], 2, "email_opened", ""),
            (leads[8], 1, "page_viewed", "https://x.example/blog"),  # another page
            (leads[8], 1, "email_opened", ""),
            (leads[8], 3, "email_opened", ""),
        ]
    ):
        EngagementEvent.objects.create(
            external_id=f"s{n}",
            lead=lead,
            type=type_,
            url=url,
            occurred_at=now - timedelta(days=days),
        )
    rules = services.current_rule_set().engagement
    keys = {rule.name: rule.key for rule in rules}

    def counted(lead_ids):
        counts = services.event_counts(lead_ids=lead_ids, rules=rules, now=now)
        return {pk: {name: row[key] for name, key in keys.items()} for pk, row in counts.items()}

    scattered = counted([leads[0].pk, leads[8].pk])  # 8 apart: the per-lead lookup
    dense = counted([lead.pk for lead in leads])  # a contiguous range: the range scan
    expected = {
        leads[0].pk: {"Recent pricing": 1, "Opens": 1},
        leads[8].pk: {"Recent pricing": 0, "Opens": 2},
    }
    assert scattered == expected
    assert dense == expected


def test_every_rule_change_is_a_new_version_and_queues_a_rescore(
    marketing, django_capture_on_commit_callbacks
):
    lead = LeadFactory(country="US")
    with django_capture_on_commit_callbacks(execute=True):
        rule = services.create_rule(
            by=marketing,
            name="US",
            category="fit",
            field="country",
            operator="equals",
            value="US",
            points=5,
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.update_rule(rule=rule, by=marketing, points=7)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.update_rule(rule=rule, by=marketing, points=7)  # no change: no version
    assert callbacks == []
    with django_capture_on_commit_callbacks(execute=True):
        services.update_rule(rule=rule, by=marketing, active=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_rule(rule=rule, by=marketing)
    versions = list(RuleSetVersion.objects.order_by("pk"))
    assert [v.change for v in versions] == [
        "Added “US”",
        "Changed “US”",
        "Disabled “US”",
        "Removed “US”",
    ]
    assert versions[1].rules[0]["points"] == 7
    assert versions[2].rules == []
    # the eager task ran each job; the last one scored the lead with the last version
    assert list(RescoreJob.objects.order_by("pk").values_list("status", flat=True)) == ["done"] * 4
    lead.refresh_from_db()
    assert (lead.score, lead.score_version) == (0, versions[-1].pk)
    assert list(
        ScoreHistory.objects.filter(lead=lead).order_by("pk").values_list("score", flat=True)
    ) == [5, 7, 0]


def test_bad_rule_is_rejected_with_field_errors_and_writes_nothing(marketing):
    from django.core.exceptions import ValidationError

    for fields, bad in [
        ({"field": "country", "operator": "between", "value": [5, 1]}, "value"),
        ({"field": "country", "operator": "gte", "value": "many"}, "value"),
        ({"field": "nope", "operator": "equals", "value": "x"}, "field"),
        ({"field": "country", "operator": "sounds_like", "value": "x"}, "operator"),
        ({"field": "country", "operator": "in", "value": []}, "value"),
    ]:
        with pytest.raises(ValidationError) as error:
            services.create_rule(by=marketing, name="x", category="fit", points=1, **fields)
        assert bad in error.value.message_dict
    assert RuleSetVersion.objects.exists() is False


def test_an_event_keeps_a_current_fit_and_recomputes_one_scored_under_older_rules(
    client, marketing, token, high_threshold
):
    # given a lead scored 10 for its industry, then the rule raised to 25 before the
    # background rescore reached it
    rule = services.create_rule(
        by=marketing,
        name="SaaS",
        category="fit",
        field="industry",
        operator="equals",
        value="SaaS",
        points=10,
    )
    services.create_rule(
        by=marketing, name="Opens", category="engagement", event_type="email_opened", points=2
    )
    lead = LeadFactory(industry="SaaS")
    services.score_leads(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score) == (10, 0)
    # when an event arrives under the same rules
    client.post(
        URL, [event(1, lead, "email_opened")], content_type="application/json", headers=auth(token)
    )
    # then the fit stands and only engagement moved
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score, lead.score) == (10, 2, 12)
    # when the rule changes and the next event comes before the rescore
    services.update_rule(rule=rule, by=marketing, points=25)
    client.post(
        URL, [event(2, lead, "email_opened")], content_type="application/json", headers=auth(token)
    )
    # then the event's scoring applies the new rule to the fit as well
    lead.refresh_from_db()
    assert (lead.fit_score, lead.engagement_score, lead.score) == (25, 4, 29)
    assert lead.score_version == RuleSetVersion.objects.latest("pk").pk
    assert {line["name"]: line["points"] for line in explained(lead)} == {"SaaS": 25, "Opens": 4}
