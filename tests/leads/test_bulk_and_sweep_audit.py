"""Lead bulk actions (assign owner, change stage, disqualify), the zombie-lead recycling sweep
and the speed-to-lead SLA alerts leave one audit entry per lead, in a constant number of
queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm import audit
from crm.models import AuditLog, OrgSettings
from leads import services
from leads.models import Lead
from leads.sweeps import check_first_contact_sla, recycle_zombie_leads, update_sweep_settings
from tests.factories import LeadFactory
from tests.leads.factories import LeadReasonFactory
from tests.leads.routing_factories import MqlLeadFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def trail(action: str) -> dict[int, tuple]:
    """{lead id: (actor id, changes, bulk_count)} for one action."""
    return {
        int(e.target_id): (e.actor_id, e.changes, e.bulk_count)
        for e in AuditLog.objects.filter(action=action, target_type="leads.lead")
    }


def test_bulk_assign_records_each_leads_old_and_new_owner(client, manager, rep):
    # given: one lead without an owner, one of the manager's, one already rep's
    free = LeadFactory(stage="mql", first_name="Ada", last_name="Lovelace")
    managers = LeadFactory(stage="mql", owner=manager)
    already = LeadFactory(stage="mql", owner=rep)
    client.force_login(manager)
    # when
    client.post(
        reverse("leads:bulk"),
        {"action": "assign", "ids": [free.pk, managers.pk, already.pk], "owner": rep.pk},
    )
    # then: the lead that did not change hands has no entry
    assert trail("lead.assign") == {
        free.pk: (manager.pk, {"owner_id": [None, rep.pk]}, 2),
        managers.pk: (manager.pk, {"owner_id": [manager.pk, rep.pk]}, 2),
    }
    assert AuditLog.objects.get(target_id=str(free.pk)).target_label == "Ada Lovelace"
    client.force_login(rep)
    tab = client.get(reverse("settings:history_leads", args=[free.pk])).content.decode()
    assert "<code>lead.assign</code>" in tab
    assert "with 1 other" in tab


def test_bulk_stage_change_records_each_leads_own_previous_stage(client, manager, rep):
    new = LeadFactory(stage="new", owner=rep)
    recycled = LeadFactory(stage="recycled", owner=rep)
    client.force_login(manager)
    client.post(
        reverse("leads:bulk"), {"action": "stage", "ids": [new.pk, recycled.pk], "stage": "mql"}
    )
    assert trail("lead.transition") == {
        new.pk: (manager.pk, {"stage": ["new", "mql"], "reason": ""}, 2),
        recycled.pk: (manager.pk, {"stage": ["recycled", "mql"], "reason": ""}, 2),
    }


def test_bulk_disqualify_records_the_reason(client, manager, rep):
    leads = [LeadFactory(stage="new", owner=rep), LeadFactory(stage="mql", owner=rep)]
    LeadReasonFactory(label="No budget")
    client.force_login(manager)
    client.post(
        reverse("leads:bulk"),
        {"action": "disqualify", "ids": [x.pk for x in leads], "reason": "No budget"},
    )
    assert trail("lead.transition") == {
        leads[0].pk: (manager.pk, {"stage": ["new", "disqualified"], "reason": "No budget"}, 2),
        leads[1].pk: (manager.pk, {"stage": ["mql", "disqualified"], "reason": "No budget"}, 2),
    }


def test_bulk_assign_queries_do_not_grow_with_the_leads(
    manager, rep, django_assert_max_num_queries
):
    for size in (2, 40):
        ids = [lead.pk for lead in LeadFactory.create_batch(size, stage="mql", owner=manager)]
        # + the owner's e-mail: outbox INSERT, the install id, the Message-IDs' UPDATE
        with django_assert_max_num_queries(11):
            moved = services.assign_leads(lead_ids=ids, owner=rep, by=manager)
        assert len(moved) == size
    assert AuditLog.objects.filter(action="lead.assign").count() == 42


def test_zombie_recycling_is_audited_per_lead_as_the_system(rep, django_assert_max_num_queries):
    OrgSettings.objects.update_or_create(pk=1, defaults={"zombie_lead_days": 90})
    for size in (2, 30):
        with time_machine.travel(T0, tick=False):
            MqlLeadFactory.create_batch(size, owner=rep)
        with (
            time_machine.travel(T0 + timedelta(days=91 + size), tick=False),
            # 19 + the webhook outbox's subscriber read, + the owners' e-mails (outbox INSERT,
            # install id, Message-IDs' UPDATE, users)
            django_assert_max_num_queries(24),
        ):
            assert recycle_zombie_leads(now=timezone.now()) == {"recycled": size}
    entries = trail("lead.transition")
    assert len(entries) == 32
    assert {(actor, str(changes)) for actor, changes, _ in entries.values()} == {
        (None, str({"stage": ["mql", "recycled"], "reason": "No engagement"}))
    }
    assert sorted({bulk for _, _, bulk in entries.values()}) == [2, 30]


def test_sla_breach_and_escalation_are_audited_with_who_was_told(rep, manager):
    OrgSettings.objects.update_or_create(
        pk=1, defaults={"first_contact_sla_minutes": 5, "sla_escalation_minutes": 60}
    )
    lead = LeadFactory(owner=rep, stage="srl", assigned_at=T0)
    for minutes in (5, 6, 65, 300):  # breach once, escalate once
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            check_first_contact_sla(now=timezone.now())
    breached_at = (T0 + timedelta(minutes=5)).isoformat()
    escalated_at = (T0 + timedelta(minutes=65)).isoformat()
    assert [(e.action, e.actor, e.changes) for e in audit.history_for(lead)] == [
        (
            "lead.sla_escalate",
            None,
            {"sla_escalated_at": [None, escalated_at], "notified": manager.pk},
        ),
        ("lead.sla_breach", None, {"sla_alerted_at": [None, breached_at], "notified": rep.pk}),
    ]


def test_sla_sweep_audit_queries_do_not_grow(rep, other_rep, django_assert_max_num_queries):
    OrgSettings.objects.update_or_create(
        pk=1, defaults={"first_contact_sla_minutes": 5, "sla_escalation_minutes": 60}
    )
    for size in (2, 30):
        LeadFactory.create_batch(size, owner=rep, stage="srl", assigned_at=T0)
        LeadFactory.create_batch(size, owner=other_rep, stage="srl", assigned_at=T0)
        for minutes in (10, 100):  # breach, then escalate
            with (
                time_machine.travel(T0 + timedelta(minutes=minutes), tick=False),
                # 17: + the notifications' scope check (content type, users, UNION);
                # 21: + their e-mails (outbox INSERT, the install id, the Message-IDs' UPDATE)
                django_assert_max_num_queries(21),
            ):
                check_first_contact_sla(now=timezone.now())
        Lead.objects.update(first_contacted_at=T0)  # the next round starts clean
    assert AuditLog.objects.filter(action="lead.sla_breach").count() == 64
    assert AuditLog.objects.filter(action="lead.sla_escalate").count() == 64


def test_sweep_settings_changes_are_audited(client, admin_user):
    OrgSettings.load()
    update_sweep_settings(values={"zombie_lead_days": 90}, by=admin_user)  # unchanged
    update_sweep_settings(
        values={"zombie_lead_days": 30, "stale_auto_close_after_days": 60}, by=admin_user
    )
    entry = AuditLog.objects.get(action="org_settings.update")
    assert (entry.actor, entry.target_type, entry.changes) == (
        admin_user,
        "crm.orgsettings",
        {"zombie_lead_days": [90, 30], "stale_auto_close_after_days": [None, 60]},
    )
