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
from django.db.models import (
    BigIntegerField,
    Case,
    Exists,
    FloatField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity
from crm.audit import record_many
from crm.models import Notification, OrgSettings, User
from crm.selectors import escalation_managers
from crm.services import notify_many
from pipeline.models import ForecastCategory, LostReason, Opportunity, Stage, StageChange
from pipeline.services import (
    POSITION_STEP,
    move_opportunity,
    record_stage_events,
    stage_change_for,
    stage_updates,
)

STALE_REASON = "Stale — no activity"
AUTO_CLOSE_NOTE = "Closed automatically by the stale-deal sweep."
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


def _manager_of(owner: User, managers: dict[int, int]) -> int | None:
    """The manager above the owner (crm.selectors.escalation_managers)."""
    return managers.get(owner.team_id) if owner.team_id else None


def flag_stale_opportunities(*, now: datetime, batch_size: int = SWEEP_BATCH) -> dict[str, int]:
    """Flag newly stale deals (one notification to the owner each) and unflag deals that came
    back to life, each audited by the system ("opportunity.stale_flag" / "…stale_clear").
    Batches are claimed with SKIP LOCKED; the flag is the once-only claim.
    A few queries per rotting stage and batch (stages are few), never per deal."""
    counts = {"flagged": 0, "revived": 0}
    stages = _open_rotting_stages()
    for stage in stages:
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
                record_many(
                    actor=None,
                    action="opportunity.stale_flag",
                    model=Opportunity,
                    ids=[deal.pk for deal in deals],
                    labels={deal.pk: deal.name for deal in deals},
                    changes={"is_stale": [False, True], "stale_since": [None, now]},
                )
                notify_many(
                    [
                        Notification(
                            recipient_id=deal.owner_id,
                            verb="deal_stale",
                            message=f"{deal} has had no activity for {stage.rot_after_days} days in {stage}.",
                            url=reverse("pipeline:opportunity", args=[deal.pk]),
                            target=deal,
                        )
                        for deal in deals
                    ]
                )
            counts["flagged"] += len(deals)
    counts["revived"] = _unflag_revived(stages=stages, now=now, batch_size=batch_size)
    return counts


def _unflag_revived(*, stages: list[Stage], now: datetime, batch_size: int) -> int:
    """Unflag stale deals of these stages that are fresh again: one claim per batch for all
    the stages together (each with its own rot period), audited per deal."""
    if not stages:
        return 0
    fresh_again = Q()
    for stage in stages:
        fresh_again |= Q(stage=stage) & _fresh_q(now=now, days=stage.rot_after_days)
    revived_count = 0
    while True:
        with transaction.atomic():
            revived = list(
                Opportunity.objects.filter(fresh_again, is_stale=True)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", "name", "stale_since")[:batch_size]
            )
            if not revived:
                return revived_count
            Opportunity.objects.filter(pk__in=[pk for pk, _, _ in revived]).update(
                is_stale=False, stale_since=None, stale_escalated_at=None
            )
            record_many(
                actor=None,
                action="opportunity.stale_clear",
                model=Opportunity,
                ids=[pk for pk, _, _ in revived],
                labels={pk: name for pk, name, _ in revived},
                changes_for={
                    pk: {"is_stale": [True, False], "stale_since": [since, None]}
                    for pk, _, since in revived
                },
            )
        revived_count += len(revived)


def escalate_stale_opportunities(*, now: datetime, batch_size: int = SWEEP_BATCH) -> dict[str, int]:
    """Tell the owner's team manager about deals stale for `stale_escalate_after_days`, once
    (the `stale_escalated_at` stamp is the claim); audited as "opportunity.stale_escalate"."""
    days = OrgSettings.load().stale_escalate_after_days
    managers = escalation_managers()
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
            record_many(
                actor=None,
                action="opportunity.stale_escalate",
                model=Opportunity,
                ids=[deal.pk for deal in deals],
                labels={deal.pk: deal.name for deal in deals},
                changes_for={
                    deal.pk: {
                        "stale_escalated_at": [None, now],
                        "notified_manager": _manager_of(deal.owner, managers),
                    }
                    for deal in deals
                },
            )
            notify_many(
                [
                    Notification(
                        recipient_id=manager_id,
                        verb="deal_stale_escalated",
                        message=f"{deal} ({deal.owner}) has been stale for {days} days.",
                        url=reverse("pipeline:opportunity", args=[deal.pk]),
                        # notify_many still checks the recipient may see the deal.
                        target=deal,
                    )
                    for deal in deals
                    if (manager_id := _manager_of(deal.owner, managers))
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
    lost stage with reason "Stale — no activity": the same end state as a `move_opportunity`
    to lost (version bumped, StageChange with the time in stage, category omitted), so
    `reopen_opportunity` can undo it; each close is audited as "opportunity.auto_close".

    Set-based: each batch is claimed with SKIP LOCKED and closed in a few queries. A deal
    someone is saving right now is locked, so it is skipped (not clobbered) and looked at
    again by the next sweep. Deals whose pipeline has no lost stage are counted as skipped.
    """
    days = OrgSettings.load().stale_auto_close_after_days
    if not days:
        return {"closed": 0, "skipped": 0}
    reason, _ = LostReason.objects.get_or_create(label=STALE_REASON)
    closed = skipped = 0
    due = Opportunity.objects.open().filter(
        is_stale=True, stale_since__lte=now - timedelta(days=days)
    )
    after = 0
    while True:
        with transaction.atomic():
            deals = list(
                due.filter(pk__gt=after)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("stage")
                .order_by("pk")[:batch_size]
            )
            if not deals:
                break
            after = deals[-1].pk
            lost = _lost_stages({deal.pipeline_id for deal in deals})
            closable = [deal for deal in deals if deal.pipeline_id in lost]
            _close_as_lost(closable, lost=lost, reason=reason, now=now)
        closed += len(closable)
        skipped += len(deals) - len(closable)
    return {"closed": closed, "skipped": skipped}


def _close_as_lost(
    deals: list[Opportunity], *, lost: dict[int, Stage], reason: LostReason, now: datetime
) -> None:
    """Move locked open deals to their pipeline's lost stage: one UPDATE, one StageChange
    INSERT, one audit INSERT. Cards go to the end of the lost column in pk order.

    The columns come from `stage_updates`, as for a move by hand; lost stages differ in nothing
    but the stage itself, so one set of updates serves every pipeline, with the stage (and the
    position) picked per deal in SQL.
    """
    if not deals:
        return
    ends = dict(
        Opportunity.objects.filter(stage__in=list(lost.values()))
        .order_by()
        .values("stage_id")
        .annotate(end=Max("position"))
        .values_list("stage_id", "end")
    )
    positions: dict[int, float] = {}
    for deal in deals:
        stage_id = lost[deal.pipeline_id].pk
        ends[stage_id] = (ends.get(stage_id) or 0) + POSITION_STEP
        positions[deal.pk] = ends[stage_id]
    updates = stage_updates(
        to_stage=next(iter(lost.values())), now=now, lost_reason=reason, lost_note=AUTO_CLOSE_NOTE
    )
    updates["stage"] = Case(
        *(When(pipeline_id=pipeline_id, then=Value(s.pk)) for pipeline_id, s in lost.items()),
        output_field=BigIntegerField(),
    )
    updates["position"] = Case(
        *(When(pk=pk, then=Value(position)) for pk, position in positions.items()),
        output_field=FloatField(),
    )
    Opportunity.objects.filter(pk__in=list(positions)).update(**updates)
    StageChange.objects.bulk_create(
        stage_change_for(
            deal, to_stage=lost[deal.pipeline_id], by=None, now=now, reason=STALE_REASON
        )
        for deal in deals
    )
    record_many(
        actor=None,
        action="opportunity.auto_close",
        model=Opportunity,
        ids=[deal.pk for deal in deals],
        labels={deal.pk: deal.name for deal in deals},
        changes_for={
            deal.pk: {
                "stage": [deal.stage.name, lost[deal.pipeline_id].name],
                "lost_reason": [None, STALE_REASON],
                "is_stale": [True, False],
                "forecast_category": [deal.forecast_category, ForecastCategory.OMITTED],
            }
            for deal in deals
        },
    )
    for stage in lost.values():
        moved = {deal.pk: deal.stage_id for deal in deals if lost[deal.pipeline_id] == stage}
        record_stage_events(previous_stages=moved, to_stage=stage, now=now)


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
        audit_action="opportunity.reopen",
        audit_changes={
            "stage": [opportunity.stage.name, last.from_stage.name],
            "lost_reason": [STALE_REASON, None],
        },
    ).opportunity
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
