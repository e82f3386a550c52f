"""Deal state changes. Every stage move goes through `move_opportunity`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from crm.models import Account, User
from pipeline.models import ForecastCategory, LostReason, Opportunity, Pipeline, Stage, StageChange


class StaleOpportunity(Exception):
    """The deal changed since the client saw it (version mismatch). The client must redraw."""

    def __init__(self, current: Opportunity) -> None:
        super().__init__("Someone else changed this deal first.")
        self.current = current


def category_for(stage: Stage) -> str:
    """Won deals are closed, lost deals omitted; open deals take the stage's default."""
    if stage.kind == Stage.Kind.WON:
        return ForecastCategory.CLOSED
    if stage.kind == Stage.Kind.LOST:
        return ForecastCategory.OMITTED
    return stage.forecast_category


def _end_position(stage: Stage) -> float:
    top = Opportunity.objects.filter(stage=stage).aggregate(m=Max("position"))["m"]
    return (top or 0) + 1024.0


@transaction.atomic
def create_opportunity(
    *,
    by: User,
    name: str,
    pipeline: Pipeline,
    owner: User | None = None,
    stage: Stage | None = None,
    account: Account | None = None,
    lead: object | None = None,
    amount: Decimal = Decimal("0"),
    expected_close_date: date | None = None,
    deal_type: str | None = None,
    next_step: str = "",
    next_step_date: date | None = None,
) -> Opportunity:
    """Create a deal at the end of its column (default: the pipeline's first open stage).

    Deal type defaults from the account: customers are expansion, prospects new business.
    """
    if stage is None:
        stage = (
            pipeline.stages.filter(kind=Stage.Kind.OPEN, is_archived=False)
            .order_by("order")
            .first()
        )
        if stage is None:
            raise ValidationError({"stage": "This pipeline has no open stage."})
    if stage.pipeline_id != pipeline.pk:
        raise ValidationError({"stage": "That stage belongs to another pipeline."})
    if deal_type is None:
        is_customer = account is not None and account.is_customer
        deal_type = (
            Opportunity.DealType.EXPANSION if is_customer else Opportunity.DealType.NEW_BUSINESS
        )
    now = timezone.now()
    opportunity = Opportunity(
        name=name,
        pipeline=pipeline,
        stage=stage,
        owner=owner or by,
        account=account,
        lead=lead,
        amount=amount,
        expected_close_date=expected_close_date,
        deal_type=deal_type,
        forecast_category=category_for(stage),
        next_step=next_step,
        next_step_date=next_step_date,
        position=_end_position(stage),
        stage_entered_at=now,
        last_activity_at=now,
    )
    opportunity.full_clean(exclude=["lead"])
    opportunity.save()
    StageChange.objects.create(
        opportunity=opportunity,
        from_stage=None,
        to_stage=stage,
        changed_by=by,
        changed_at=now,
        amount=amount,
    )
    from crm.audit import record

    record(
        actor=by,
        action="opportunity.create",
        target=opportunity,
        changes={
            "stage": [None, stage.name],
            "amount": [None, amount],
            "owner": [None, opportunity.owner_id],
        },
    )
    return opportunity


@transaction.atomic
def move_opportunity(
    *,
    opportunity: Opportunity,
    to_stage: Stage,
    expected_version: int,
    by: User | None,
    lost_reason: LostReason | None = None,
    lost_note: str = "",
    position: float | None = None,
    reason: str = "",
) -> Opportunity:
    """Move a deal to another stage of its pipeline and record the move.

    Optimistic: the UPDATE matches only if nobody saved the deal since `expected_version`,
    so two concurrent drags cannot both win; the loser gets StaleOpportunity with the
    current row. A move within the same stage only reorders (no StageChange).
    """
    if to_stage.pipeline_id != opportunity.pipeline_id:
        raise ValidationError({"stage": "That stage belongs to another pipeline."})
    if to_stage.is_archived:
        raise ValidationError({"stage": "That stage is archived."})
    if to_stage.kind == Stage.Kind.LOST and lost_reason is None:
        raise ValidationError({"lost_reason": "Say why the deal was lost."})
    now = timezone.now()
    same_stage = to_stage.pk == opportunity.stage_id
    updates: dict[str, object] = {
        "version": F("version") + 1,
        "position": position if position is not None else _end_position(to_stage),
        "updated_at": now,
    }
    if not same_stage:
        updates |= {
            "stage": to_stage,
            "stage_entered_at": now,
            "is_stale": False,
            "stale_since": None,
            "stale_escalated_at": None,
            "closed_at": None if to_stage.is_open else now,
            "won_at": now if to_stage.kind == Stage.Kind.WON else None,
            "lost_reason": lost_reason if to_stage.kind == Stage.Kind.LOST else None,
            "lost_note": lost_note if to_stage.kind == Stage.Kind.LOST else "",
        }
        if not opportunity.forecast_category_overridden or not to_stage.is_open:
            updates["forecast_category"] = category_for(to_stage)
    moved = Opportunity.objects.filter(pk=opportunity.pk, version=expected_version).update(
        **updates
    )
    if moved != 1:
        raise StaleOpportunity(Opportunity.objects.select_related("stage").get(pk=opportunity.pk))
    if not same_stage:
        StageChange.objects.create(
            opportunity=opportunity,
            from_stage_id=opportunity.stage_id,
            to_stage=to_stage,
            changed_by=by,
            changed_at=now,
            amount=opportunity.amount,
            seconds_in_from_stage=int((now - opportunity.stage_entered_at).total_seconds()),
            reason=reason[:200],
        )
        from crm.audit import record

        record(
            actor=by,
            action="opportunity.move",
            target=opportunity,
            changes={"stage_id": [opportunity.stage_id, to_stage.pk]},
        )
    opportunity.refresh_from_db()
    return opportunity
