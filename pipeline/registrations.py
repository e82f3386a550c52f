"""How pipeline plugs into the layers below it, registered from `PipelineConfig.ready()`.

- the core (crm.registry): deals are records with a page and a History tab; a departing
  rep's open deals are handed over; the dashboard shows "My stale deals"; the demo seeds;
- activities: activities are logged on deals (Activity.opportunity), and logging one
  refreshes the deal's rotting clock;
- accounts: a deal reaches its account (Opportunity.account);
- webhooks: a deal is the `object` of opportunity.* events (the API's deal, with its lead,
  won/lost details), received only while the subscription's acting user may see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet
from rest_framework import serializers

from accounts import registry as accounts_registry
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
    accounts_registry.register_reach(model=Opportunity, field="account")
    webhooks_registry.register_record(
        model=Opportunity,
        name="opportunity",
        serialize=deal_payloads,
        schema=OpportunityPayloadSerializer,
    )
