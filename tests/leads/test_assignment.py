"""Round-robin / load-balanced lead routing: rules, rotation, caps, fallback, dry run, effects."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from activities.models import Activity
from crm.models import Notification, OrgSettings
from leads import assignment
from leads.models import AssignmentLog, AssignmentRule, Lead, LeadTransition
from leads.services import transition_leads
from tests.factories import LeadFactory, UserFactory
from tests.leads.routing_factories import (
    AssignmentRuleFactory,
    MqlLeadFactory,
    make_team,
)

pytestmark = pytest.mark.django_db


def owners(leads):
    by_pk = dict(Lead.objects.filter(pk__in=[x.pk for x in leads]).values_list("pk", "owner_id"))
    return [by_pk[x.pk] for x in leads]


def test_rule_criteria_match_region_country_employees_score_source_industry():
    rule = AssignmentRule(
        name="EMEA SMB",
        regions=["EMEA"],
        countries=["DE", "fr"],
        employee_min=11,
        employee_max=50,
        score_min=40,
        sources=["web_form"],
        industries=["Software"],
    )
    good = Lead(
        region="emea",
        country="FR",
        employee_count=11,
        score=40,
        source="web_form",
        industry="software",
    )
    assert rule.matches(good) is True
    for change in (
        {"region": "APAC"},
        {"country": "US"},
        {"employee_count": 51},
        {"employee_count": None},
        {"score": 39},
        {"source": "event"},
        {"industry": "Retail"},
    ):
        lead = Lead(**{**{f: getattr(good, f) for f in change}, **change})
        for field in ("region", "country", "employee_count", "score", "source", "industry"):
            if field not in change:
                setattr(lead, field, getattr(good, field))
        assert rule.matches(lead) is False, change
    assert "employees 11–50" in rule.describe_criteria()


def test_first_matching_rule_by_priority_wins():
    _, emea, _ = make_team("EMEA", reps=1)
    _, anyone, _ = make_team("Any", reps=1)
    AssignmentRuleFactory(name="Catch all", priority=50, reps=anyone)
    AssignmentRuleFactory(name="EMEA", priority=10, regions=["EMEA"], reps=emea)
    lead = MqlLeadFactory(region="EMEA")
    other = MqlLeadFactory(region="APAC")
    assignment.assign_leads()
    assert owners([lead, other]) == [emea[0].pk, anyone[0].pk]
    assert AssignmentLog.objects.get(lead=lead).rule_name == "EMEA"


def test_round_robin_rotates_strictly_and_resumes_across_runs():
    team, reps, _ = make_team("Sales", reps=3)
    AssignmentRuleFactory(name="All", target_team=team)
    first = MqlLeadFactory.create_batch(4)
    assignment.assign_leads(batch_size=2)
    second = MqlLeadFactory.create_batch(3)
    assignment.assign_leads()
    a, b, c = (rep.pk for rep in reps)
    assert owners(first) == [a, b, c, a]
    assert owners(second) == [b, c, a]  # the cursor survives the run


def test_team_target_skips_unavailable_reps_and_its_manager():
    team, reps, boss = make_team("Sales", reps=3)
    reps[1].is_available = False
    reps[1].save()
    AssignmentRuleFactory(name="All", target_team=team)
    leads = MqlLeadFactory.create_batch(4)
    assignment.assign_leads()
    assert owners(leads) == [reps[0].pk, reps[2].pk, reps[0].pk, reps[2].pk]
    assert not Lead.objects.filter(owner__in=[reps[1], boss]).exists()


def test_rep_at_cap_is_skipped_counting_open_leads_only():
    team, reps, _ = make_team("Sales", reps=2, max_open_leads=2)
    LeadFactory.create_batch(2, owner=reps[0], stage="srl")  # at cap
    LeadFactory.create_batch(3, owner=reps[1], stage="converted")  # closed: does not count
    AssignmentRuleFactory(name="All", target_team=team)
    leads = MqlLeadFactory.create_batch(3)
    result = assignment.assign_leads()
    assert owners(leads) == [reps[1].pk, reps[1].pk, None]
    assert (result.assigned, result.unassignable) == (2, 1)
    assert Lead.objects.open().filter(owner=reps[1]).count() == 2


def test_load_balanced_gives_the_lead_to_the_rep_with_fewest_open_leads():
    team, reps, _ = make_team("Sales", reps=3)
    LeadFactory.create_batch(3, owner=reps[0], stage="srl")
    LeadFactory.create_batch(1, owner=reps[1], stage="srl")
    AssignmentRuleFactory(name="LB", target_team=team, method="load_balanced")
    leads = MqlLeadFactory.create_batch(4)
    assignment.assign_leads()
    # c has 0 → c; then b and c tie at 1 → b (rotation after c), c, then all at 2 → ... a is at 3
    assert owners(leads) == [reps[2].pk, reps[1].pk, reps[2].pk, reps[1].pk]
    assert "fewest open leads (0)" in AssignmentLog.objects.get(lead=leads[0]).why


def test_fallback_catches_unmatched_leads_and_overflow():
    _, emea, _ = make_team("EMEA", reps=1, max_open_leads=1)
    _, spare, _ = make_team("Spare", reps=1)
    AssignmentRuleFactory(name="EMEA", regions=["EMEA"], reps=emea)
    AssignmentRuleFactory(name="Fallback", is_fallback=True, priority=999, reps=spare)
    unmatched = MqlLeadFactory(region="APAC")
    emea_1, emea_2 = MqlLeadFactory.create_batch(2, region="EMEA")
    assignment.assign_leads()
    assert owners([unmatched, emea_1, emea_2]) == [spare[0].pk, emea[0].pk, spare[0].pk]
    why = AssignmentLog.objects.get(lead=emea_2).why
    assert "at their cap" in why
    assert "fallback “Fallback”" in why


def test_assignment_moves_to_srl_creates_first_contact_task_logs_and_notifies(
    django_capture_on_commit_callbacks,
):
    OrgSettings.objects.update_or_create(pk=1, defaults={"first_contact_sla_minutes": 30})
    team, (rep,), _ = make_team("Sales", reps=1)
    rep.remind_before_minutes = 10
    rep.save()
    AssignmentRuleFactory(name="All", target_team=team)
    lead = MqlLeadFactory(first_name="Ada", last_name="Lovelace")
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assignment.assign_leads(now=now)
    lead.refresh_from_db()
    assert (lead.owner, lead.stage, lead.assigned_at) == (rep, "srl", now)
    assert LeadTransition.objects.get(lead=lead, to_stage="srl").from_stage == "mql"
    task = Activity.objects.get(lead=lead)
    assert (task.kind, task.owner, task.due_at) == ("task", rep, now + timedelta(minutes=30))
    assert task.remind_at == now + timedelta(minutes=20)
    assert task.subject == "First contact: Ada Lovelace"
    log = AssignmentLog.objects.get(lead=lead)
    assert (log.rep, log.rule_name, log.at) == (rep, "All", now)
    assert "round robin" in log.why
    note = Notification.objects.get(recipient=rep)
    assert note.verb == "lead_assigned"
    assert "Ada Lovelace" in note.message
    assert [m.to for m in mail.outbox] == [[rep.email]]


def test_nobody_can_take_it_flags_the_lead_and_tells_the_manager_once():
    team, reps, boss = make_team("Sales", reps=2, is_available=False)
    AssignmentRuleFactory(name="All", target_team=team)
    leads = MqlLeadFactory.create_batch(3)
    first = assignment.assign_leads()
    second = assignment.assign_leads()
    assert (first.newly_unassignable, second.newly_unassignable) == (3, 0)
    assert Lead.objects.filter(stage="mql", owner=None, unassignable_at__isnull=False).count() == 3
    note = Notification.objects.get(recipient=boss)
    assert note.message.startswith("3 leads are waiting")
    # capacity comes back: the next sweep routes them and clears the flag
    reps[0].is_available = True
    reps[0].save()
    assignment.assign_leads()
    assert set(owners(leads)) == {reps[0].pk}
    assert Lead.objects.filter(unassignable_at__isnull=False).exists() is False
    assert Notification.objects.filter(recipient=boss).count() == 1


def test_leads_without_any_rule_stay_unassigned_and_admins_are_told(admin_user):
    lead = MqlLeadFactory()
    assignment.assign_leads()
    lead.refresh_from_db()
    assert (lead.owner, lead.stage) == (None, "mql")
    assert Notification.objects.get(recipient=admin_user).verb == "lead_unassignable"


def test_only_unassigned_mqls_are_routed():
    team, (_rep,), _ = make_team("Sales", reps=1)
    other = UserFactory(role="rep")
    AssignmentRuleFactory(name="All", target_team=team)
    new = LeadFactory(stage="new")
    owned = MqlLeadFactory(owner=other)
    assignment.assign_leads()
    assert owners([new, owned]) == [None, other.pk]
    assert AssignmentLog.objects.exists() is False


def test_dry_run_shows_the_next_leads_and_why_without_writing():
    team, reps, _ = make_team("Sales", reps=2)
    rule = AssignmentRuleFactory(name="EMEA", regions=["EMEA"], target_team=team)
    leads = MqlLeadFactory.create_batch(25, region="EMEA")
    MqlLeadFactory(region="APAC")
    plans = assignment.dry_run(rule=rule)
    assert [p.lead.pk for p in plans] == [x.pk for x in leads[:20]]
    assert [p.rep.pk for p in plans[:3]] == [reps[0].pk, reps[1].pk, reps[0].pk]
    assert all("round robin" in p.why for p in plans)
    assert Lead.objects.filter(owner__isnull=False).exists() is False
    assert AssignmentRule.objects.get(pk=rule.pk).last_assigned is None
    # and the real run does what the dry run said
    assignment.assign_leads()
    assert owners(leads[:20]) == [p.rep.pk for p in plans]


def test_becoming_mql_enqueues_one_assignment_task_per_batch(
    marketing, django_capture_on_commit_callbacks, monkeypatch
):
    team, (rep,), _ = make_team("Sales", reps=1)
    AssignmentRuleFactory(name="All", target_team=team)
    calls = []
    real = assignment.assign_leads
    monkeypatch.setattr(
        assignment, "assign_leads", lambda **kw: calls.append(kw["lead_ids"]) or real(**kw)
    )
    leads = LeadFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=True):
        transition_leads(lead_ids=[x.pk for x in leads], to="mql", by=marketing)
    assert calls == [[x.pk for x in leads]]
    assert owners(leads) == [rep.pk] * 3


def test_assign_runs_in_constant_queries(django_assert_max_num_queries):
    team, _, _ = make_team("Sales", reps=5)
    AssignmentRuleFactory(name="All", target_team=team)
    for size in (5, 60):
        MqlLeadFactory.create_batch(size)
        # 32 on PostgreSQL: the claim, the decision (with its audit rows), the SRL move (with
        # its audit rows and webhook events), tasks and notifications, each set-based: the
        # same at 5 and 60 leads; + the notifications' e-mails (outbox INSERT, the install id,
        # the Message-IDs' UPDATE)
        with django_assert_max_num_queries(40):
            assert assignment.assign_leads().assigned == size


def test_worker_dying_between_decide_and_finish_is_recovered_by_the_sweep_exactly_once(
    monkeypatch,
):
    team, (rep,), _ = make_team("Sales", reps=1)
    AssignmentRuleFactory(name="All", target_team=team)
    leads = MqlLeadFactory.create_batch(3)
    real = assignment.finish_assignments

    def crash(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(assignment, "finish_assignments", crash)
    with pytest.raises(SystemExit):
        assignment.assign_leads(lead_ids=[x.pk for x in leads])
    # decided (owner, log) but not finished (still MQL, no task)
    assert owners(leads) == [rep.pk] * 3
    assert set(Lead.objects.values_list("stage", flat=True)) == {"mql"}
    assert Activity.objects.exists() is False
    monkeypatch.setattr(assignment, "finish_assignments", real)
    assert assignment.assign_leads().recovered == 3
    assert assignment.assign_leads().recovered == 0
    assert set(Lead.objects.values_list("stage", flat=True)) == {"srl"}
    assert Activity.objects.filter(kind="task", owner=rep).count() == 3
    assert Notification.objects.filter(recipient=rep, verb="lead_assigned").count() == 1
    assert AssignmentLog.objects.count() == 3


def test_routing_sweep_task_writes_a_job_run():
    from crm.models import JobRun
    from leads.tasks import assign_unassigned_leads_task

    team, _, _ = make_team("Sales", reps=1, max_open_leads=1)
    AssignmentRuleFactory(name="All", target_team=team)
    MqlLeadFactory.create_batch(2)
    assign_unassigned_leads_task()
    run = JobRun.objects.get(job="assign_unassigned_leads")
    assert run.status == "ok"
    assert run.counts == {
        "assigned": 1,
        "unassignable": 1,
        "newly_unassignable": 1,
        "recovered": 0,
    }
