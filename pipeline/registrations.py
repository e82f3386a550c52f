"""How pipeline plugs into the layers below it, registered from `PipelineConfig.ready()`.

- the core (crm.registry): deals are records with a page and a History tab; a departing
  rep's open deals are handed over; the dashboard shows "My stale deals"; the demo seeds;
- activities: activities are logged on deals (Activity.opportunity), and logging one
  refreshes the deal's rotting clock; e-mail is sent from a deal (to its people: the lead it
  came from, with the `{{ deal.… }}` and `{{ lead.… }}` merge fields);
- accounts: a deal reaches its account (Opportunity.account).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, QuerySet

from accounts import registry as accounts_registry
from activities import registry as activities_registry
from activities.models import Activity
from crm import audit, registry
from crm.models import User
from pipeline import seed
from pipeline.models import Opportunity, Stage


def open_deals(user: User) -> QuerySet[Opportunity]:
    """The user's open deals: what they hand over when they leave."""
    return Opportunity.objects.filter(owner=user, stage__kind=Stage.Kind.OPEN)


def hand_over_deals(handover: registry.HandOver) -> None:
    """Give `ids` to the new owner and audit it, set-based: one UPDATE (bumping `version`, so
    a board rendered before the hand-over cannot overwrite it), one bulk audit insert."""
    Opportunity.objects.filter(pk__in=handover.ids).update(
        owner_id=handover.to_user_id, version=F("version") + 1, updated_at=handover.now
    )
    audit.record_many(
        actor=handover.by,
        action="opportunity.reassign",
        model=Opportunity,
        ids=handover.ids,
        changes={"owner": [handover.from_user.pk, handover.to_user_id]},
    )


def deal_activity_logged(activity: Activity, now: datetime) -> None:
    """Any activity — a scheduled future task too — refreshes the deal's `last_activity_at`
    (the rotting clock): the deal is being worked."""
    if activity.opportunity_id is None:
        return
    Opportunity.objects.filter(pk=activity.opportunity_id).update(last_activity_at=now)


DEAL_MERGE_FIELDS = {
    "name": "Deal name",
    "account": "Account name",
    "amount": "Amount",
    "expected_close_date": "Expected close date (YYYY-MM-DD)",
    "next_step": "Next step",
}


def deal_merge_values(deal: Opportunity) -> dict[str, dict[str, str]]:
    """The `{{ deal.… }}` merge fields (query-free on a deal loaded with its account:
    selectors.opportunity_for). The lead's own fields come from the lead's registration."""
    return {
        "deal": {
            "name": deal.name,
            "account": deal.account.name if deal.account else "",
            "amount": f"{deal.amount:,.2f}" if deal.amount is not None else "",
            "expected_close_date": str(deal.expected_close_date or ""),
            "next_step": deal.next_step,
        }
    }


def deal_recipients(deal: Opportunity) -> list[activities_registry.Recipient]:
    """Writing from a deal: to its people where known (today the lead it came from)."""
    lead = deal.lead
    if lead is None or not lead.email:
        return []
    return [activities_registry.Recipient(label=str(lead), address=lead.email)]


def stale_deals(*, user: User, now: datetime, limit: int) -> list[Opportunity]:
    """The dashboard's "My stale deals": the user's open stale deals, stale longest first
    (one query)."""
    return list(
        Opportunity.objects.filter(owner=user, is_stale=True)
        .open()
        .select_related("stage", "account")
        .order_by("stale_since")[:limit]
    )


def register() -> None:
    registry.register_record(
        Opportunity, history_kind="opportunities", url_name="pipeline:opportunity"
    )
    registry.register_open_work(
        registry.OpenWorkKind(
            key="opportunities",
            order=20,
            noun="deal",
            model=Opportunity,
            open_records=open_deals,
            describe=lambda deal: str(deal.stage),
            hand_over=hand_over_deals,
            related=("stage",),
        )
    )
    registry.register_dashboard_panel(
        registry.DashboardPanel(
            key="stale_deals",
            order=30,
            template="pipeline/_dashboard_stale_deals.html",
            items=stale_deals,
        )
    )
    registry.register_demo_seeder(registry.DemoSeeder(label="pipeline", order=30, run=seed.run))
    activities_registry.register_subject(
        field="opportunity", model=Opportunity, order=20, on_logged=deal_activity_logged
    )
    activities_registry.register_merge_group(name="deal", fields=DEAL_MERGE_FIELDS, order=20)
    activities_registry.register_email_subject(
        model=Opportunity, recipients=deal_recipients, merge_values=deal_merge_values
    )
    accounts_registry.register_reach(model=Opportunity, field="account")
