"""How pipeline plugs into the layers below it, registered from `PipelineConfig.ready()`.

- the core (crm.registry): deals are records with a page and a History tab; a departing
  rep's open deals are handed over; the dashboard shows "My stale deals"; the demo seeds;
- activities: activities are logged on deals (Activity.opportunity), and logging one
  refreshes the deal's rotting clock; e-mail is sent from a deal (to its people: the lead it
  came from and its contacts, with the `{{ deal.… }}` and `{{ lead.… }}` merge fields);
- accounts: a deal reaches its account (Opportunity.account);
- webhooks: a deal is the `object` of opportunity.* events (the API's deal, with its lead,
  won/lost details), received only while the subscription's acting user may see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Case, F, Max, Q, QuerySet, Value, When
from rest_framework import serializers

from accounts import registry as accounts_registry
from accounts.models import ContactEmail
from activities import registry as activities_registry
from activities.models import Activity
from crm import audit, registry
from crm.models import User
from pipeline import seed
from pipeline.api import OPPORTUNITY_FIELDS, OpportunitySerializer
from pipeline.models import Opportunity, Stage
from webhooks import registry as webhooks_registry
from webhooks.events import record_events


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
    previous = {pk: {"owner": handover.from_user.pk} for pk in handover.ids}
    record_events(
        event="opportunity.updated", model=Opportunity, ids=handover.ids, previous=previous
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
    """Writing from a deal: to its people where known — its buying committee (primary first),
    the other contacts at its account, then the lead it came from. Contacts marked
    do-not-contact or unsubscribed are not offered. One query for the contacts."""
    people = Q(contact__deal_roles__opportunity=deal)
    if deal.account_id is not None:  # `account_id=None` would match every account-less contact
        people |= Q(contact__account_id=deal.account_id)
    contacts = (
        ContactEmail.objects.filter(people, is_primary=True)
        .filter(contact__do_not_contact=False, contact__unsubscribed=False)
        .annotate(
            on_deal=Max(
                Case(
                    When(contact__deal_roles__opportunity=deal, then=Value(1)),
                    default=Value(0),
                )
            ),
            primary_on_deal=Max(
                Case(
                    When(
                        contact__deal_roles__opportunity=deal,
                        contact__deal_roles__is_primary=True,
                        then=Value(1),
                    ),
                    default=Value(0),
                )
            ),
        )
        .select_related("contact")
        .order_by("-primary_on_deal", "-on_deal", "contact__last_name", "contact__first_name")
    )
    recipients = [
        activities_registry.Recipient(label=str(row.contact), address=row.email) for row in contacts
    ]
    lead = deal.lead
    known = {recipient.address for recipient in recipients}
    if lead is not None and lead.email and lead.email.lower() not in known:
        recipients.append(activities_registry.Recipient(label=str(lead), address=lead.email))
    return recipients


def stale_deals(*, user: User, now: datetime, limit: int) -> list[Opportunity]:
    """The dashboard's "My stale deals": the user's open stale deals, stale longest first
    (one query)."""
    return list(
        Opportunity.objects.filter(owner=user, is_stale=True)
        .open()
        .select_related("stage", "account")
        .order_by("stale_since")[:limit]
    )


class OpportunityPayloadSerializer(OpportunitySerializer):
    """A deal as webhook payloads carry it: the API's deal plus its lead and how it closed."""

    lost_reason: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="label", read_only=True
    )

    class Meta(OpportunitySerializer.Meta):
        fields = [
            *OPPORTUNITY_FIELDS,
            "lead",
            "won_at",
            "lost_reason",
            "lost_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def deal_payloads(ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Deals as webhook payloads (one query)."""
    deals = Opportunity.objects.filter(pk__in=list(ids)).select_related("lost_reason").order_by()
    return {row["id"]: dict(row) for row in OpportunityPayloadSerializer(deals, many=True).data}


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
    webhooks_registry.register_record(
        model=Opportunity,
        name="opportunity",
        serialize=deal_payloads,
        schema=OpportunityPayloadSerializer,
    )
