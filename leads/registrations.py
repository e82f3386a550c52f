"""How leads plug into the layers below them, registered from `LeadsConfig.ready()`.

- the core (crm.registry): leads are records with a page and a History tab; a departing
  rep's open leads are handed over; the dashboard shows "My new leads"; the demo seeds;
- activities: activities are logged on leads (Activity.lead), and logging one runs the
  rotting and speed-to-lead clocks; e-mail is sent from a lead (to its address, with the
  `{{ lead.… }}` merge fields);
- accounts: a lead reaches its account (Lead.account), so whoever sees the lead sees it;
- scoring: the leads scoring's own passes (rescore, decay, events) find over the MQL
  threshold, and the unknown leads events ask for, come back to leads.services, which owns
  the lifecycle and lead creation;
- webhooks: a lead is the `object` of lead.* events, serialised as the API shows it, and a
  subscription receives it only while its acting user may see the lead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from accounts import registry as accounts_registry
from activities import registry as activities_registry
from activities.models import Activity
from crm import audit, registry
from crm.models import User
from leads import routing_seed, seed, services
from leads.api import LeadSerializer
from leads.models import Lead
from scoring import handoff
from webhooks import registry as webhooks_registry
from webhooks.events import record_events


def open_leads(user: User) -> QuerySet[Lead]:
    """The user's open leads: what they hand over when they leave."""
    return Lead.objects.filter(owner=user, stage__in=Lead.OPEN_STAGES)


def hand_over_leads(handover: registry.HandOver) -> None:
    """Give `ids` to the new owner (a fresh assignment time) and audit it, set-based: one
    UPDATE, one bulk audit insert, in the reassignment's transaction."""
    now = handover.now
    Lead.objects.filter(pk__in=handover.ids).update(
        owner_id=handover.to_user_id, assigned_at=now, updated_at=now
    )
    audit.record_many(
        actor=handover.by,
        action="lead.reassign",
        model=Lead,
        ids=handover.ids,
        changes={"owner": [handover.from_user.pk, handover.to_user_id]},
    )
    previous = {pk: {"owner": handover.from_user.pk} for pk in handover.ids}
    record_events(event="lead.assigned", model=Lead, ids=handover.ids, previous=previous, now=now)


def lead_activity_logged(activity: Activity, now: datetime) -> None:
    """Any activity refreshes the lead's `last_activity_at` (the rotting clock); a call,
    e-mail or meeting stamps `first_contacted_at` once (the speed-to-lead clock)."""
    if activity.lead_id is None:
        return
    Lead.objects.filter(pk=activity.lead_id).update(last_activity_at=now)
    if activity.kind in Activity.CONTACT_KINDS:
        Lead.objects.filter(pk=activity.lead_id, first_contacted_at__isnull=True).update(
            first_contacted_at=now
        )


LEAD_MERGE_FIELDS = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name",
    "email": "E-mail address",
    "company": "Company",
    "title": "Job title",
}


def lead_merge_values(lead: Lead) -> dict[str, str]:
    """The `{{ lead.… }}` merge fields of one lead (query-free)."""
    return {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "full_name": lead.full_name,
        "email": lead.email,
        "company": lead.company,
        "title": lead.title,
    }


def lead_recipients(lead: Lead) -> list[activities_registry.Recipient]:
    """Writing from a lead: to the lead."""
    if not lead.email:
        return []
    return [activities_registry.Recipient(label=str(lead), address=lead.email)]


def new_leads(*, user: User, now: datetime, limit: int) -> list[Lead]:
    """The dashboard's "My new leads": the user's MQL and SRL leads, newest assignment first
    (one query)."""
    return list(
        Lead.objects.filter(
            owner=user, stage__in=[Lead.Lifecycle.MQL, Lead.Lifecycle.SRL]
        ).order_by("-assigned_at", "-created_at")[:limit]
    )


def lead_payloads(ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Leads as webhook payloads: exactly the API's lead (one query)."""
    leads = Lead.objects.filter(pk__any=list(ids)).order_by()
    return {row["id"]: dict(row) for row in LeadSerializer(leads, many=True).data}


def register() -> None:
    registry.register_record(Lead, history_kind="leads", url_name="leads:detail")
    registry.register_open_work(
        registry.OpenWorkKind(
            key="leads",
            order=10,
            noun="lead",
            model=Lead,
            open_records=open_leads,
            describe=lambda lead: lead.get_stage_display(),
            hand_over=hand_over_leads,
        )
    )
    registry.register_dashboard_panel(
        registry.DashboardPanel(
            key="new_leads", order=20, template="leads/_dashboard_new_leads.html", items=new_leads
        )
    )
    registry.register_demo_seeder(registry.DemoSeeder(label="leads", order=10, run=seed.run))
    registry.register_demo_seeder(
        registry.DemoSeeder(label="leads.routing", order=20, run=routing_seed.run)
    )
    activities_registry.register_subject(
        field="lead", model=Lead, order=10, on_logged=lead_activity_logged
    )
    activities_registry.register_merge_group(name="lead", fields=LEAD_MERGE_FIELDS, order=10)
    activities_registry.register_email_subject(
        model=Lead,
        recipients=lead_recipients,
        merge_values=lambda lead: {"lead": lead_merge_values(lead)},
    )
    accounts_registry.register_reach(model=Lead, field="account")
    webhooks_registry.register_record(
        model=Lead, name="lead", serialize=lead_payloads, schema=LeadSerializer
    )
    handoff.register(
        handoff.LeadLifecycle(
            qualify=services.qualify_crossers, create_leads=services.create_event_leads
        )
    )
