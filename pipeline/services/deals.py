"""Deal state changes: creation, stage moves (and card order), edits.

Every stage move goes through `move_opportunity`; the fields a move sets come from
`stage_updates`, which the stale-deal auto-close (pipeline.stale) uses too, so a deal closed
by the sweep ends exactly as one moved to lost by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from accounts.models import Account
from crm.audit import diff, record
from crm.models import User
from pipeline.models import ForecastCategory, LostReason, Opportunity, Pipeline, Stage, StageChange
from webhooks.events import record_events

POSITION_STEP = 1024.0
# Below this gap two neighbours are too close to split again: the column is renumbered.
MIN_POSITION_GAP = 1e-6


class StaleOpportunity(Exception):
    """The deal changed since the client saw it (version mismatch). The client must redraw."""

    def __init__(self, current: Opportunity) -> None:
        super().__init__("Someone else changed this deal first.")
        self.current = current


@dataclass(frozen=True)
class MoveResult:
    """What `move_opportunity` did: the deal as saved, and soft warnings for the mover (a WIP
    limit passed). Warnings never block a move; pages show them, the API lists them."""

    opportunity: Opportunity
    warnings: tuple[str, ...] = ()


def category_for(stage: Stage) -> str:
    """Won deals are closed, lost deals omitted; open deals take the stage's default."""
    if stage.kind == Stage.Kind.WON:
        return ForecastCategory.CLOSED
    if stage.kind == Stage.Kind.LOST:
        return ForecastCategory.OMITTED
    return stage.forecast_category


def _end_position(stage: Stage) -> float:
    top = Opportunity.objects.filter(stage=stage).aggregate(m=Max("position"))["m"]
    return float(top or 0) + POSITION_STEP


def top_position(stage: Stage) -> float:
    """A position before every deal of the column (the "Move to…" menu puts cards on top)."""
    low = Opportunity.objects.filter(stage=stage).aggregate(m=Min("position"))["m"]
    return float(low or POSITION_STEP) - POSITION_STEP


def _renumber_column(stage: Stage) -> None:
    """Spread a column's positions out again (rare: after ~50 drops into the same gap)."""
    rows = list(Opportunity.objects.filter(stage=stage).order_by("position", "pk").only("pk"))
    for index, row in enumerate(rows, start=1):
        row.position = index * POSITION_STEP
    Opportunity.objects.bulk_update(rows, ["position"], batch_size=1000)


def position_between(
    *, stage: Stage, after_id: int | None, before_id: int | None, moving_id: int | None = None
) -> float:
    """The fractional position for a card dropped between two neighbours of `stage`.

    Neighbours that are not (or no longer) in the column are ignored; no neighbour = the end.
    """
    ids = [pk for pk in (after_id, before_id) if pk and pk != moving_id]
    if not ids:
        return _end_position(stage)
    found = dict(Opportunity.objects.filter(stage=stage, pk__in=ids).values_list("pk", "position"))
    low, high = found.get(after_id or 0), found.get(before_id or 0)
    if low is None and high is None:
        return _end_position(stage)
    if low is None:
        assert high is not None  # one neighbour was found
        return high - POSITION_STEP
    if high is None:
        return low + POSITION_STEP
    if high - low < MIN_POSITION_GAP:
        _renumber_column(stage)
        return position_between(
            stage=stage, after_id=after_id, before_id=before_id, moving_id=moving_id
        )
    return (low + high) / 2


def stage_updates(
    *,
    to_stage: Stage,
    now: datetime,
    category_overridden: bool = False,
    lost_reason: LostReason | None = None,
    lost_note: str = "",
) -> dict[str, Any]:
    """The columns a move into `to_stage` sets, as `QuerySet.update()` arguments: the stage and
    its entry time, the version bump, the stale flags cleared, closed/won stamps, the lost
    reason (lost stages only) and the forecast category.

    A category the owner overrode survives a move between open stages; closing a deal always
    sets the closed/omitted category. Pure (no query): a move and the set-based auto-close
    both build their UPDATE from it.
    """
    is_lost = to_stage.kind == Stage.Kind.LOST
    updates: dict[str, Any] = {
        "version": F("version") + 1,
        "updated_at": now,
        "stage": to_stage,
        "stage_entered_at": now,
        "is_stale": False,
        "stale_since": None,
        "stale_escalated_at": None,
        "closed_at": None if to_stage.is_open else now,
        "won_at": now if to_stage.kind == Stage.Kind.WON else None,
        "lost_reason": lost_reason if is_lost else None,
        "lost_note": lost_note if is_lost else "",
    }
    if not category_overridden or not to_stage.is_open:
        updates["forecast_category"] = category_for(to_stage)
        updates["forecast_category_overridden"] = False
    return updates


def stage_change_for(
    opportunity: Opportunity, *, to_stage: Stage, by: User | None, now: datetime, reason: str
) -> StageChange:
    """The (unsaved) history row of moving `opportunity`, as loaded before the move, to
    `to_stage`: the time in the stage it leaves comes from that row's `stage_entered_at`."""
    return StageChange(
        opportunity=opportunity,
        from_stage_id=opportunity.stage_id,
        to_stage=to_stage,
        changed_by=by,
        changed_at=now,
        amount=opportunity.amount,
        seconds_in_from_stage=max(0, int((now - opportunity.stage_entered_at).total_seconds())),
        reason=reason[:200],
    )


def _creation_stage(pipeline: Pipeline, stage: Stage | None) -> Stage:
    """The stage a new deal starts in (default: the pipeline's first open stage), checked."""
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
    if stage.is_archived:
        raise ValidationError({"stage": "That stage is archived."})
    if stage.kind == Stage.Kind.LOST:
        raise ValidationError({"stage": "Create the deal in an open stage, then mark it lost."})
    return stage


@transaction.atomic
def create_opportunity(
    *,
    by: User,
    name: str,
    pipeline: Pipeline,
    owner: User | None = None,
    stage: Stage | None = None,
    account: Account | None = None,
    lead: models.Model | None = None,
    amount: Decimal = Decimal("0"),
    expected_close_date: date | None = None,
    deal_type: str | None = None,
    next_step: str = "",
    next_step_date: date | None = None,
    forecast_category: str | None = None,
) -> Opportunity:
    """Create a deal at the end of its column (default: the pipeline's first open stage).

    Deal type defaults from the account: customers are expansion, prospects new business.
    A given `forecast_category` differing from the stage's default counts as an override.
    """
    stage = _creation_stage(pipeline, stage)
    if deal_type is None:
        is_customer = account is not None and account.is_customer
        deal_type = (
            Opportunity.DealType.EXPANSION if is_customer else Opportunity.DealType.NEW_BUSINESS
        )
    default_category = category_for(stage)
    overridden = bool(forecast_category) and forecast_category != default_category and stage.is_open
    now = timezone.now()
    opportunity = Opportunity(
        name=name,
        pipeline=pipeline,
        stage=stage,
        owner=owner or by,
        account=account,
        # By id: the lead's model lives in `leads`, which sits above pipeline.
        lead_id=lead.pk if lead is not None else None,
        amount=amount,
        expected_close_date=expected_close_date,
        deal_type=deal_type,
        forecast_category=forecast_category
        if overridden and forecast_category
        else default_category,
        forecast_category_overridden=overridden,
        next_step=next_step,
        next_step_date=next_step_date,
        position=_end_position(stage),
        stage_entered_at=now,
        last_activity_at=now,
        closed_at=None if stage.is_open else now,
        won_at=now if stage.kind == Stage.Kind.WON else None,
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
    record_events(event="opportunity.created", model=Opportunity, ids=[opportunity.pk], now=now)
    return opportunity


def record_stage_events(
    *, previous_stages: Mapping[int, int | None], to_stage: Stage, now: datetime
) -> None:
    """The webhook events of deals that moved into `to_stage` ({deal id: stage it left}):
    opportunity.stage_changed, plus opportunity.won / .lost for a closing stage."""
    ids = list(previous_stages)
    previous = {pk: {"stage": stage_id} for pk, stage_id in previous_stages.items()}
    record_events(
        event="opportunity.stage_changed", model=Opportunity, ids=ids, previous=previous, now=now
    )
    if to_stage.kind != Stage.Kind.OPEN:
        event = f"opportunity.{to_stage.kind}"  # opportunity.won / opportunity.lost
        record_events(event=event, model=Opportunity, ids=ids, previous=previous, now=now)


def wip_warning(*, stage: Stage) -> str | None:
    """A warning when the stage holds more deals than its WIP limit (a soft limit: moves pass).

    Counts every deal in the stage, not only the ones the mover can see: the limit is the team's.
    """
    if not stage.wip_limit:
        return None
    count = Opportunity.objects.filter(stage=stage).count()
    if count <= stage.wip_limit:
        return None
    return f"{stage.name} is over its WIP limit: {count} deals, limit {stage.wip_limit}."


def _check_move(
    *, opportunity: Opportunity, to_stage: Stage, lost_reason: LostReason | None
) -> None:
    """Refuse a move the pipeline's rules do not allow (ValidationError, nothing written)."""
    if to_stage.pipeline_id != opportunity.pipeline_id:
        raise ValidationError({"stage": "That stage belongs to another pipeline."})
    if to_stage.is_archived:
        raise ValidationError({"stage": "That stage is archived."})
    if to_stage.kind == Stage.Kind.LOST and lost_reason is None:
        raise ValidationError({"lost_reason": "Say why the deal was lost."})
    if lost_reason is not None and not lost_reason.is_active:
        raise ValidationError({"lost_reason": "That lost reason is no longer offered."})


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
    after_id: int | None = None,
    before_id: int | None = None,
    audit_action: str = "opportunity.move",
    audit_changes: Mapping[str, Any] | None = None,
) -> MoveResult:
    """Move a deal to another stage of its pipeline (or reorder it in its column) and record it.

    Optimistic: the UPDATE matches only if nobody saved the deal since `expected_version`,
    so two concurrent drags cannot both win; the loser gets StaleOpportunity with the
    current row and nothing is written. A move within the same stage only reorders (no
    StageChange, no warnings). `by` must be able to see the deal (callers fetch it from
    `visible_to`; this is checked again here). A stage change is audited as `audit_action`
    (callers like `reopen_opportunity` name theirs), with `audit_changes` added to the entry.
    """
    _check_move(opportunity=opportunity, to_stage=to_stage, lost_reason=lost_reason)
    now = timezone.now()
    same_stage = to_stage.pk == opportunity.stage_id
    if position is None:
        position = position_between(
            stage=to_stage, after_id=after_id, before_id=before_id, moving_id=opportunity.pk
        )
    updates: dict[str, Any] = {"version": F("version") + 1, "position": position, "updated_at": now}
    if not same_stage:
        updates |= stage_updates(
            to_stage=to_stage,
            now=now,
            category_overridden=opportunity.forecast_category_overridden,
            lost_reason=lost_reason,
            lost_note=lost_note,
        )
    # The scope check rides on the UPDATE itself (one round trip); only a miss asks why.
    scoped = Opportunity.objects.visible_to(by) if by is not None else Opportunity.objects.all()
    moved = scoped.filter(pk=opportunity.pk, version=expected_version).update(**updates)
    if moved != 1:
        if (
            by is not None
            and not Opportunity.objects.visible_to(by).filter(pk=opportunity.pk).exists()
        ):
            raise Opportunity.DoesNotExist("No such deal in your scope.")
        raise StaleOpportunity(Opportunity.objects.select_related("stage").get(pk=opportunity.pk))
    warnings: tuple[str, ...] = ()
    if not same_stage:
        # The version check above guarantees `opportunity` is the row we just replaced.
        stage_change_for(opportunity, to_stage=to_stage, by=by, now=now, reason=reason).save(
            force_insert=True
        )
        record(
            actor=by,
            action=audit_action,
            target=opportunity,
            changes={"stage_id": [opportunity.stage_id, to_stage.pk], **(audit_changes or {})},
        )
        record_stage_events(
            previous_stages={opportunity.pk: opportunity.stage_id}, to_stage=to_stage, now=now
        )
    _refresh_keeping_relations(opportunity)
    opportunity.stage = to_stage  # same row as stage_id: saves the caller a query
    if not same_stage and (warning := wip_warning(stage=to_stage)):
        warnings = (warning,)
    return MoveResult(opportunity=opportunity, warnings=warnings)


def _refresh_keeping_relations(opportunity: Opportunity) -> None:
    """refresh_from_db() drops every cached foreign key; put back the account and owner the
    caller joined in when they did not change, so rendering the deal needs no extra query."""
    kept = {
        field.name: getattr(opportunity, field.name)
        for field in (Opportunity._meta.get_field(name) for name in ("account", "owner"))
        if isinstance(field, models.ForeignKey) and field.is_cached(opportunity)
    }
    opportunity.refresh_from_db()
    for name, value in kept.items():
        if getattr(opportunity, f"{name}_id") == (value.pk if value is not None else None):
            setattr(opportunity, name, value)


EDITABLE_FIELDS = (
    "name",
    "account",
    "lead",
    "owner",
    "amount",
    "expected_close_date",
    "deal_type",
    "forecast_category",
    "next_step",
    "next_step_date",
)


@transaction.atomic
def update_opportunity(
    *,
    opportunity: Opportunity,
    by: User,
    expected_version: int | None = None,
    **changes: object,
) -> Opportunity:
    """Edit a deal's fields (never its stage: that is `move_opportunity`).

    Optimistic like a move: with `expected_version`, a concurrent save makes this raise
    StaleOpportunity and nothing is written. Setting `forecast_category` to something other
    than the stage's default marks it overridden; setting it back clears the override.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be changed here."))
    if "owner" in changes and changes["owner"] is None:
        raise ValidationError({"owner": "A deal needs an owner."})
    if not Opportunity.objects.visible_to(by).filter(pk=opportunity.pk).exists():
        raise Opportunity.DoesNotExist("No such deal in your scope.")
    before = {name: getattr(opportunity, name) for name in changes}
    stage = opportunity.stage
    for name, value in changes.items():
        setattr(opportunity, name, value)
    if "forecast_category" in changes:
        if not stage.is_open:
            opportunity.forecast_category = category_for(stage)
            opportunity.forecast_category_overridden = False
        else:
            opportunity.forecast_category_overridden = (
                opportunity.forecast_category != stage.forecast_category
            )
    opportunity.full_clean(exclude=["lead"])
    fields = {name: getattr(opportunity, name) for name in changes}
    if "account" in fields:
        fields["account"] = opportunity.account
    fields["forecast_category_overridden"] = opportunity.forecast_category_overridden
    qs = Opportunity.objects.filter(pk=opportunity.pk)
    if expected_version is not None:
        qs = qs.filter(version=expected_version)
    updated = qs.update(**fields, version=F("version") + 1, updated_at=timezone.now())
    if updated != 1:
        raise StaleOpportunity(Opportunity.objects.select_related("stage").get(pk=opportunity.pk))
    changed = diff(before, {name: getattr(opportunity, name) for name in changes})
    record(actor=by, action="opportunity.update", target=opportunity, changes=changed)
    previous = {name: old for name, (old, _) in changed.items()}
    if previous:
        record_events(
            event="opportunity.updated",
            model=Opportunity,
            ids=[opportunity.pk],
            previous={opportunity.pk: previous},
        )
    opportunity.refresh_from_db()
    return opportunity
