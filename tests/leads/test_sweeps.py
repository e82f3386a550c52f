"""Speed-to-lead SLA alerts, zombie-lead recycling and SLA attainment, on a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from activities.models import Activity
from activities.services import create_activity
from crm.models import JobRun, Notification, OrgSettings
from leads.models import Lead, LeadReason, LeadTransition
from leads.sweeps import check_first_contact_sla, recycle_zombie_leads, sla_attainment
from leads.tasks import check_first_contact_sla_task, recycle_zombie_leads_task
from tests.factories import LeadFactory
from tests.leads.routing_factories import MqlLeadFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def assigned_lead(rep, manager):
    OrgSettings.objects.update_or_create(
        pk=1, defaults={"first_contact_sla_minutes": 5, "sla_escalation_minutes": 60}
    )
    return LeadFactory(owner=rep, stage="srl", assigned_at=T0, first_name="Ada", last_name="L")


def verbs(user):
    return list(Notification.objects.filter(recipient=user).values_list("verb", flat=True))


def test_breach_alerts_the_owner_then_the_manager_each_once(assigned_lead, rep, manager):
    def sla():
        counts = check_first_contact_sla(now=timezone.now())
        return {k: counts[k] for k in ("breached", "escalated")}

    with time_machine.travel(at(4), tick=False):
        assert sla() == {"breached": 0, "escalated": 0}
    with time_machine.travel(at(5), tick=False):
        assert sla() == {"breached": 1, "escalated": 0}
        assert sla() == {"breached": 0, "escalated": 0}
    assert verbs(rep) == ["sla_breached"]
    assert verbs(manager) == []
    with time_machine.travel(at(64), tick=False):
        check_first_contact_sla(now=timezone.now())
    assert verbs(manager) == []
    with time_machine.travel(at(65), tick=False):
        assert sla() == {"breached": 0, "escalated": 1}
    with time_machine.travel(at(300), tick=False):
        check_first_contact_sla(now=timezone.now())
    assert verbs(rep) == ["sla_breached"]
    assert verbs(manager) == ["sla_escalated"]
    assert "Ada L" in Notification.objects.get(recipient=manager).message


def test_a_call_within_the_sla_means_no_alert(assigned_lead, rep, manager):
    with time_machine.travel(at(3), tick=False):
        create_activity(by=rep, kind="call", subject="Intro", lead=assigned_lead)
    with time_machine.travel(at(120), tick=False):
        check_first_contact_sla_task()
    assert Notification.objects.filter(verb__startswith="sla").exists() is False
    assert JobRun.objects.get(job="check_first_contact_sla").counts == {
        "breached": 0,
        "escalated": 0,
        "first_contact_tasks_closed": 0,
    }


def test_first_contact_task_is_closed_once_the_lead_is_contacted(rep):
    from leads.assignment import assign_leads
    from tests.leads.routing_factories import AssignmentRuleFactory

    AssignmentRuleFactory(name="Just rep", reps=[rep])
    lead = MqlLeadFactory()
    with time_machine.travel(T0, tick=False):
        assign_leads()
    task = Activity.objects.get(lead=lead, kind="task")
    assert task.subject.startswith("First contact: ")
    with time_machine.travel(at(2), tick=False):
        create_activity(by=rep, kind="call", subject="Intro call", lead=lead)
        counts = check_first_contact_sla(now=timezone.now())
    assert counts["first_contact_tasks_closed"] == 1
    task.refresh_from_db()
    assert task.done_at == at(2)


def test_contact_after_the_breach_stops_the_escalation(assigned_lead, rep, manager):
    with time_machine.travel(at(6), tick=False):
        check_first_contact_sla(now=timezone.now())
        create_activity(by=rep, kind="email", subject="Hi", lead=assigned_lead)
    with time_machine.travel(at(90), tick=False):
        check_first_contact_sla(now=timezone.now())
    assert verbs(manager) == []


def test_sla_attainment_per_rep_is_scoped(rep, other_rep, manager):
    OrgSettings.objects.update_or_create(pk=1, defaults={"first_contact_sla_minutes": 5})
    for contacted_after in (2, 4, 9, None):
        LeadFactory(
            owner=rep,
            stage="srl",
            assigned_at=T0,
            first_contacted_at=at(contacted_after) if contacted_after else None,
        )
    LeadFactory(owner=rep, stage="srl", assigned_at=at(58))  # still inside its SLA at 09:59
    LeadFactory(owner=other_rep, stage="srl", assigned_at=T0, first_contacted_at=at(1))
    rows = sla_attainment(user=manager, since=T0, until=at(60), now=at(59))
    assert [(r.rep, r.assigned, r.met, r.breached, r.pending, r.percent) for r in rows] == [
        (rep, 5, 2, 2, 1, 50)
    ]
    admin_rows = sla_attainment(user=rep, since=T0, until=at(60), now=at(59))
    assert [r.rep for r in admin_rows] == [rep]


def test_zombie_leads_are_recycled_once_with_the_reason(rep):
    OrgSettings.objects.update_or_create(pk=1, defaults={"zombie_lead_days": 90})
    with time_machine.travel(T0, tick=False):
        zombie = MqlLeadFactory(owner=rep)
        engaged = MqlLeadFactory(owner=rep)
        worked = LeadFactory(stage="new")
        working = LeadFactory(owner=rep, stage="srl")  # past new/mql: not a zombie
    with time_machine.travel(T0 + timedelta(days=80), tick=False):
        Lead.objects.filter(pk=engaged.pk).update(last_engaged_at=timezone.now())
        Lead.objects.filter(pk=worked.pk).update(last_activity_at=timezone.now())
    with time_machine.travel(T0 + timedelta(days=89), tick=False):
        assert recycle_zombie_leads(now=timezone.now()) == {"recycled": 0}
    with time_machine.travel(T0 + timedelta(days=91), tick=False):
        recycle_zombie_leads_task()
        assert recycle_zombie_leads(now=timezone.now()) == {"recycled": 0}
    stages = dict(Lead.objects.values_list("pk", "stage"))
    assert stages == {zombie.pk: "recycled", engaged.pk: "mql", worked.pk: "new", working.pk: "srl"}
    row = LeadTransition.objects.get(lead=zombie)
    assert (row.from_stage, row.to_stage, row.reason) == ("mql", "recycled", "No engagement")
    assert Lead.objects.get(pk=zombie.pk).stage_reason == "No engagement"
    assert LeadReason.objects.filter(kind="recycle", label="No engagement").exists()
    assert JobRun.objects.get(job="recycle_zombie_leads").counts == {"recycled": 1}


def test_sla_sweep_runs_in_constant_queries(rep, other_rep, manager, django_assert_max_num_queries):
    for size in (2, 30):
        LeadFactory.create_batch(size, owner=rep, stage="srl", assigned_at=T0)
        LeadFactory.create_batch(size, owner=other_rep, stage="srl", assigned_at=T0)
        # 28: two claim loops; each notify_many adds two for its scope check (users, UNION);
        # 32: + the e-mails of each (outbox INSERT, the install id, the Message-IDs' UPDATE)
        with time_machine.travel(at(500), tick=False), django_assert_max_num_queries(32):
            check_first_contact_sla(now=timezone.now())
    assert Notification.objects.filter(verb="sla_breached").count() == 64


def test_quiet_new_leads_never_stall_the_zombie_sweep(rep):
    # given quiet `new` leads ahead (lower ids) of a quiet MQL, and a one-lead batch size
    OrgSettings.objects.update_or_create(pk=1, defaults={"zombie_lead_days": 90})
    with time_machine.travel(T0, tick=False):
        quiet_new = LeadFactory.create_batch(3, stage="new")
        zombie = MqlLeadFactory(owner=rep)
    # when the sweep runs past the zombie age
    with time_machine.travel(T0 + timedelta(days=91), tick=False):
        counts = recycle_zombie_leads(now=timezone.now(), batch_size=1)
    # then the MQL is recycled and the new leads stay in nurture
    assert counts == {"recycled": 1}
    assert Lead.objects.get(pk=zombie.pk).stage == "recycled"
    assert set(
        Lead.objects.filter(pk__in=[lead.pk for lead in quiet_new]).values_list("stage", flat=True)
    ) == {"new"}


def test_an_escalation_goes_up_the_tree_past_a_team_manager_without_team_scope(org, rep):
    # given team A "managed" by a rep (no team scope) inside a region with a real manager
    from tests.factories import UserFactory

    lead_rep = UserFactory(username="rep_lead", role="rep", team=org["team_a"])
    org["team_a"].manager = lead_rep
    org["team_a"].save()
    regional = UserFactory(username="regional", role="manager", team=org["region"])
    org["region"].manager = regional
    org["region"].save()
    OrgSettings.objects.update_or_create(
        pk=1, defaults={"first_contact_sla_minutes": 5, "sla_escalation_minutes": 60}
    )
    LeadFactory(owner=rep, stage="srl", assigned_at=T0)
    # when the lead stays uncontacted past the escalation
    with time_machine.travel(at(5), tick=False):
        check_first_contact_sla(now=timezone.now())
    with time_machine.travel(at(65), tick=False):
        check_first_contact_sla(now=timezone.now())
    # then the regional manager, who can open the lead, hears of it; the rep "manager" not
    assert verbs(regional) == ["sla_escalated"]
    assert verbs(lead_rep) == []
