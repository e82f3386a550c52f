"""Activities as the `object` of `activity.created` webhook events (registered with
webhooks.registry in ActivitiesConfig.ready)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework import serializers

from activities.models import Activity


class ActivityPayloadSerializer(serializers.ModelSerializer):
    """An activity in a webhook payload: what it is, on which lead or deal, whose."""

    class Meta:
        model = Activity
        fields = [
            "id",
            "kind",
            "subject",
            "body",
            "lead",
            "opportunity",
            "owner",
            "created_by",
            "due_at",
            "done_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def activity_payloads(ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Activities as webhook payloads (one query)."""
    rows = Activity.objects.filter(pk__in=list(ids)).order_by()
    return {row["id"]: dict(row) for row in ActivityPayloadSerializer(rows, many=True).data}
