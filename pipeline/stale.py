"""Stale deals: detection, escalation, optional auto-close and reopen (services + selectors).

A deal's rotting clock is the later of its stage entry and its last activity; an open task due
in the future counts as activity (the deal is being worked). A deal is stale once the clock is
older than its stage's `rot_after_days` (0 = never rots).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity, Notification, OrgSettings, User
from pipeline.models import LostReason, Opportunity, Stage, StageChange
from pipeline.services import StaleOpportunity, move_opportunity

STALE_REASON = "Stale — no activity"
SWEEP_BATCH = 500


def _fresh_q(*, now: datetime, days: int) -> Q:
    """Deals with something in the last `days` days: stage entry, activity or a future task."""
    cutoff = now - timedelta(days=days)
    future_task = Activity.objects.filter(
        opportunity_id=OuterRef("pk"),
        kind=Activity.Kind.TASK,
        done_at__isnull=True,
        due_at__gt=now,
    )
    return Q(stage_entered_at__gt=cutoff) | Q(last_activity_at__gt=cutoff) | Q(Exists(future_task))


def _open_rotting_stages() -> list[Stage]:
    return list(Stage.objects.filter(kind=Stage.Kind.OPEN, rot_after_days__gt=0))


def _manager_of(owner: User) -> int | None:
    return owner.team.manager_id if owner.team_id and owner.team else None


def flag_stale_opportunities(*, now: datetime, batch_size: int = SWEEP_BATCH) -> dict[str, int]:
    """Flag newly stale deals (one notification to the owner each) and unflag deals that came
    back to life. Batches are claimed with SKIP LOCKED; the flag is the once-only claim.
    One query per rotting stage (stages are few), never per deal."""
    from crm.services import notify_many

    counts = {"flagged": 0, "revived": 0}
    for stage in _open_rotting_stages():
        fresh = _fresh_q(now=now, days=stage.rot_after_days)
        while True:
            with transaction.atomic():
                deals = list(
                    Opportunity.objects.filter(stage=stage, is_stale=False)
                    .exclude(fresh)
                    .select_for_update(skip_locked=True, of=("self",))
                    .select_related("owner")
                    .order_by("pk")[:batch_size]
                )
                if not deals:
                    break
                Opportunity.objects.filter(pk__in=[deal.pk for deal in deals]).update(
                    is_stale=True, stale_since=now, stale_escalated_at=None
                )
                notify_many(
                    [
                        Notification(
                            recipient_id=deal.owner_id,
                            verb="deal_stale",
                            message=f"{deal} has had no activity for {stage.rot_after_days} days in {stage}.",
                            url=reverse("pipeline:opportunity", args=[deal.pk]),
                        )
                        for deal in deals
                    ]
                )
            counts["flagged"] += len(deals)
        counts["revived"] += (
            Opportunity.objects.filter(stage=stage, is_stale=True)
            .filter(fresh)
            .update(is_stale=False, stale_since=None, stale_escalated_at=None)
        )
    return counts


def escalate_stale_opportunities(*, now: datetime, batch_size: int = SWEEP_BATCH) -> dict[str, int]:
    """Tell the owner's team manager about deals stale for `stale_escalate_after_days`, once
    (the `stale_escalated_at` stamp is the claim)."""
    from crm.services import notify_many

    days = OrgSettings.load().stale_escalate_after_days
    escalated = 0
    while True:
        with transaction.atomic():
            deals = list(
                Opportunity.objects.open()
                .filter(
                    is_stale=True,
                    stale_escalated_at__isnull=True,
                    stale_since__lte=now - timedelta(days=days),
                )
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("owner__team")
                .order_by("pk")[:batch_size]
            )
            if not deals:
                break
            Opportunity.objects.filter(pk__in=[deal.pk for deal in deals]).update(
                stale_escalated_at=now
            )
            notify_many(
                [
                    Notification(
                        recipient_id=manager_id,
                        verb="deal_stale_escalated",
                        message=f"{deal} ({deal.owner}) has been stale for {days} days.",
                        url=reverse("pipeline:opportunity", args=[deal.pk]),
                    )
                    for deal in deals
                    if (manager_id := _manager_of(deal.owner))
                ]
            )
        escalated += len(deals)
    return {"escalated": escalated}


def _lost_stages(pipeline_ids: set[int]) -> dict[int, Stage]:
    lost: dict[int, Stage] = {}
    for stage in Stage.objects.filter(
        pipeline_id__in=pipeline_ids, kind=Stage.Kind.LOST, is_archived=False
    ).order_by("pipeline_id", "order", "pk"):
        lost.setdefault(stage.pipeline_id, stage)
    return lost


def auto_close_stale_opportunities(
    *, now: datetime, batch_size: int = SWEEP_BATCH
) -> dict[str, int]:
    """With `stale_auto_close_after_days` set, move deals stale that long to their pipeline's
    lost stage with reason "Stale — no activity", through `move_opportunity` (so the move is
    versioned, logged as a StageChange and reversible with `reopen_opportunity`).

    A deal someone touched meanwhile fails the version check and is skipped, not clobbered.
    """
    days = OrgSettings.load().stale_auto_close_after_days
    if not days:
        return {"closed": 0, "skipped": 0}
    reason, _ = LostReason.objects.get_or_create(label=STALE_REASON)
    closed = skipped = 0
    due = (
        Opportunity.objects.open()
        .filter(is_stale=True, stale_since__lte=now - timedelta(days=days))
        .select_related("stage")
        .order_by("pk")
    )
    after = 0
    while True:
        deals = list(due.filter(pk__gt=after)[:batch_size])
        if not deals:
            break
        after = deals[-1].pk
        lost = _lost_stages({deal.pipeline_id for deal in deals})
        for deal in deals:
            if deal.pipeline_id not in lost:
                skipped += 1
                continue
            try:
                # One service call per deal by design: the move's rules live there once.
                move_opportunity(
                    opportunity=deal,
                    to_stage=lost[deal.pipeline_id],
                    expected_version=deal.version,
                    by=None,
                    lost_reason=reason,
                    lost_note="Closed automatically by the stale-deal sweep.",
                    reason=STALE_REASON,
                )
            except StaleOpportunity:
                skipped += 1
                continue
            closed += 1
    return {"closed": closed, "skipped": skipped}


def auto_closed_opportunities(*, user: User, limit: int = 50) -> list[Opportunity]:
    """Deals the sweep closed as stale that are still lost (so can be reopened), newest first,
    within `user`'s scope."""
    return list(
        Opportunity.objects.visible_to(user)
        .filter(stage__kind=Stage.Kind.LOST, lost_reason__label=STALE_REASON)
        .select_related("owner", "stage", "pipeline")
        .order_by("-closed_at", "-pk")[:limit]
    )


def stale_opportunities(*, user: User, limit: int = 100) -> QuerySet[Opportunity]:
    """Open deals flagged stale within `user`'s scope, stalest first."""
    return (
        Opportunity.objects.visible_to(user)
        .open()
        .filter(is_stale=True)
        .select_related("owner", "stage")
        .order_by("stale_since", "pk")[:limit]
    )


@transaction.atomic
def reopen_opportunity(*, opportunity: Opportunity, by: User | None) -> Opportunity:
    """Undo a stale auto-close: move the deal back to the stage it was in (from the StageChange
    history) through `move_opportunity`; the clock restarts, so it is not stale again at once.
    Raises ValidationError when the deal was not auto-closed as stale or has moved since."""
    opportunity = Opportunity.objects.select_related("stage").get(pk=opportunity.pk)
    last = (
        StageChange.objects.filter(opportunity=opportunity)
        .select_related("from_stage")
        .order_by("-changed_at", "-pk")
        .first()
    )
    if (
        opportunity.stage.kind != Stage.Kind.LOST
        or last is None
        or last.reason != STALE_REASON
        or last.to_stage_id != opportunity.stage_id
        or last.from_stage is None
    ):
        raise ValidationError({"stage": "Only a deal closed as stale can be reopened."})
    if last.from_stage.is_archived:
        raise ValidationError({"stage": f"Its previous stage “{last.from_stage}” is archived."})
    moved = move_opportunity(
        opportunity=opportunity,
        to_stage=last.from_stage,
        expected_version=opportunity.version,
        by=by,
        reason="Reopened after stale auto-close",
    )
    Opportunity.objects.filter(pk=moved.pk).update(last_activity_at=timezone.now())
    moved.refresh_from_db()
    return moved


def sweep_stale_opportunities(*, now: datetime) -> dict[str, int]:
    """The hourly sweep: flag, escalate, then (if enabled) auto-close."""
    counts: dict[str, int] = defaultdict(int)
    counts |= flag_stale_opportunities(now=now)
    counts |= escalate_stale_opportunities(now=now)
    counts |= auto_close_stale_opportunities(now=now)
    return dict(counts)
