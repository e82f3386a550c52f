"""Deal and pipeline state changes. Every stage move goes through `move_opportunity`.

Pipeline configuration (stages, lost reasons) also changes only here, so the shape rule
("exactly one won and at least one lost stage") is checked in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from accounts.models import Account
from crm.audit import diff, record
from crm.models import User
from pipeline.models import ForecastCategory, LostReason, Opportunity, Pipeline, Stage, StageChange

POSITION_STEP = 1024.0
# Below this gap two neighbours are too close to split again: the column is renumbered.
MIN_POSITION_GAP = 1e-6


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
    return (top or 0) + POSITION_STEP


def top_position(stage: Stage) -> float:
    """A position before every deal of the column (the "Move to…" menu puts cards on top)."""
    low = Opportunity.objects.filter(stage=stage).aggregate(m=Min("position"))["m"]
    return (low or POSITION_STEP) - POSITION_STEP


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
        return high - POSITION_STEP  # type: ignore[operator]
    if high is None:
        return low + POSITION_STEP
    if high - low < MIN_POSITION_GAP:
        _renumber_column(stage)
        return position_between(
            stage=stage, after_id=after_id, before_id=before_id, moving_id=moving_id
        )
    return (low + high) / 2


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
    forecast_category: str | None = None,
) -> Opportunity:
    """Create a deal at the end of its column (default: the pipeline's first open stage).

    Deal type defaults from the account: customers are expansion, prospects new business.
    A given `forecast_category` differing from the stage's default counts as an override.
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
    if stage.is_archived:
        raise ValidationError({"stage": "That stage is archived."})
    if stage.kind == Stage.Kind.LOST:
        raise ValidationError({"stage": "Create the deal in an open stage, then mark it lost."})
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
        lead=lead,
        amount=amount,
        expected_close_date=expected_close_date,
        deal_type=deal_type,
        forecast_category=forecast_category if overridden else default_category,
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
    return opportunity


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
) -> Opportunity:
    """Move a deal to another stage of its pipeline (or reorder it in its column) and record it.

    Optimistic: the UPDATE matches only if nobody saved the deal since `expected_version`,
    so two concurrent drags cannot both win; the loser gets StaleOpportunity with the
    current row and nothing is written. A move within the same stage only reorders (no
    StageChange). `by` must be able to see the deal (callers fetch it from `visible_to`;
    this is checked again here). The returned deal carries `wip_warning` (str or None).
    A stage change is audited as `audit_action` (callers like `reopen_opportunity` name
    theirs), with `audit_changes` added to the entry's changes.
    """
    if to_stage.pipeline_id != opportunity.pipeline_id:
        raise ValidationError({"stage": "That stage belongs to another pipeline."})
    if to_stage.is_archived:
        raise ValidationError({"stage": "That stage is archived."})
    if to_stage.kind == Stage.Kind.LOST and lost_reason is None:
        raise ValidationError({"lost_reason": "Say why the deal was lost."})
    if lost_reason is not None and not lost_reason.is_active:
        raise ValidationError({"lost_reason": "That lost reason is no longer offered."})
    now = timezone.now()
    same_stage = to_stage.pk == opportunity.stage_id
    if position is None:
        position = position_between(
            stage=to_stage, after_id=after_id, before_id=before_id, moving_id=opportunity.pk
        )
    updates: dict[str, object] = {
        "version": F("version") + 1,
        "position": position,
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
            updates["forecast_category_overridden"] = False
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
    if not same_stage:
        # Time in the stage we leave comes from the row we just replaced: the version
        # check above guarantees `opportunity` is that row.
        StageChange.objects.create(
            opportunity=opportunity,
            from_stage_id=opportunity.stage_id,
            to_stage=to_stage,
            changed_by=by,
            changed_at=now,
            amount=opportunity.amount,
            seconds_in_from_stage=max(0, int((now - opportunity.stage_entered_at).total_seconds())),
            reason=reason[:200],
        )
        record(
            actor=by,
            action=audit_action,
            target=opportunity,
            changes={"stage_id": [opportunity.stage_id, to_stage.pk], **(audit_changes or {})},
        )
    _refresh_keeping_relations(opportunity)
    opportunity.stage = to_stage  # same row as stage_id: saves the caller a query
    opportunity.wip_warning = wip_warning(stage=to_stage) if not same_stage else None  # type: ignore[attr-defined]
    return opportunity


def _refresh_keeping_relations(opportunity: Opportunity) -> None:
    """refresh_from_db() drops every cached foreign key; put back the account and owner the
    caller joined in when they did not change, so rendering the deal needs no extra query."""
    kept = {
        name: getattr(opportunity, name)
        for name in ("account", "owner")
        if Opportunity._meta.get_field(name).is_cached(opportunity)
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
    record(
        actor=by,
        action="opportunity.update",
        target=opportunity,
        changes=diff(before, {name: getattr(opportunity, name) for name in changes}),
    )
    opportunity.refresh_from_db()
    return opportunity


# --- Pipeline configuration ------------------------------------------------------------------


def check_pipeline_shape(pipeline: Pipeline) -> None:
    """Every pipeline has exactly one won and at least one lost stage (archived ones don't
    count) and at least one open stage. Raises ValidationError otherwise."""
    kinds = list(pipeline.stages.filter(is_archived=False).values_list("kind", flat=True))
    errors = []
    if kinds.count(Stage.Kind.WON) != 1:
        errors.append("A pipeline needs exactly one won stage.")
    if kinds.count(Stage.Kind.LOST) < 1:
        errors.append("A pipeline needs at least one lost stage.")
    if kinds.count(Stage.Kind.OPEN) < 1:
        errors.append("A pipeline needs at least one open stage.")
    if errors:
        raise ValidationError({"stages": errors})


def _demote_default(*, by: User | None) -> bool:
    """Clear the current default pipeline's flag (audited on it). False when there was none."""
    current = Pipeline.objects.select_for_update().filter(is_default=True).first()
    if current is None:
        return False
    Pipeline.objects.filter(pk=current.pk).update(is_default=False, updated_at=timezone.now())
    record(
        actor=by, action="pipeline.update", target=current, changes={"is_default": [True, False]}
    )
    return True


@transaction.atomic
def create_pipeline(
    *,
    by: User | None,
    name: str,
    is_default: bool = False,
    stages: Sequence[dict[str, object]] | None = None,
) -> Pipeline:
    """Create a pipeline with its stages (default: New → Closed Won / Closed Lost).

    The shape rule holds from the first commit; a new default pipeline demotes the old one.
    Audited as "pipeline.create" (with its stages), a demotion as "pipeline.update".
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the pipeline."})
    if Pipeline.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A pipeline with this name exists."})
    if is_default:
        _demote_default(by=by)
    elif not Pipeline.objects.filter(is_default=True).exists():
        is_default = True  # the first pipeline is the default
    order = (Pipeline.objects.aggregate(m=Max("order"))["m"] or 0) + 1
    pipeline = Pipeline.objects.create(name=name, is_default=is_default, order=order)
    specs = stages or [
        {"name": "New", "probability": 10, "kind": Stage.Kind.OPEN},
        {"name": "Closed Won", "probability": 100, "kind": Stage.Kind.WON},
        {"name": "Closed Lost", "probability": 0, "kind": Stage.Kind.LOST},
    ]
    rows = []
    for index, spec in enumerate(specs):
        stage = Stage(pipeline=pipeline, order=index, **spec)  # type: ignore[arg-type]
        if "forecast_category" not in spec:
            stage.forecast_category = category_for(stage)
        stage.full_clean(exclude=["pipeline"])
        rows.append(stage)
    Stage.objects.bulk_create(rows)
    check_pipeline_shape(pipeline)
    record(
        actor=by,
        action="pipeline.create",
        target=pipeline,
        changes={
            "name": [None, name],
            "is_default": [None, is_default],
            "stages": [None, [stage.name for stage in rows]],
        },
    )
    return pipeline


@transaction.atomic
def update_pipeline(
    *,
    pipeline: Pipeline,
    by: User | None,
    name: str | None = None,
    is_default: bool | None = None,
) -> Pipeline:
    """Rename a pipeline or make it the default (the old default is demoted in the same
    transaction; the partial unique constraint makes two defaults impossible). Audited as
    "pipeline.update" on each pipeline that changed."""
    before = {"name": pipeline.name, "is_default": pipeline.is_default}
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "Name the pipeline."})
        if Pipeline.objects.filter(name__iexact=name).exclude(pk=pipeline.pk).exists():
            raise ValidationError({"name": "A pipeline with this name exists."})
        pipeline.name = name
    if is_default and not pipeline.is_default:
        if pipeline.is_archived:
            raise ValidationError({"is_default": "An archived pipeline cannot be the default."})
        _demote_default(by=by)
        pipeline.is_default = True
    pipeline.save()
    delta = diff(before, {"name": pipeline.name, "is_default": pipeline.is_default})
    if delta:
        record(actor=by, action="pipeline.update", target=pipeline, changes=delta)
    return pipeline


@transaction.atomic
def archive_pipeline(*, pipeline: Pipeline, by: User | None) -> Pipeline:
    """Hide a pipeline from boards (audited as "pipeline.archive"). The default pipeline and
    one with open deals stay."""
    if pipeline.is_default:
        raise ValidationError({"pipeline": "Make another pipeline the default first."})
    if Opportunity.objects.filter(pipeline=pipeline, stage__kind=Stage.Kind.OPEN).exists():
        raise ValidationError({"pipeline": "Move or close this pipeline's open deals first."})
    if pipeline.is_archived:
        return pipeline
    pipeline.is_archived = True
    pipeline.save(update_fields=["is_archived", "updated_at"])
    record(
        actor=by, action="pipeline.archive", target=pipeline, changes={"is_archived": [False, True]}
    )
    return pipeline


STAGE_FIELDS = (
    "name",
    "probability",
    "kind",
    "forecast_category",
    "rot_after_days",
    "wip_limit",
)


@transaction.atomic
def add_stage(*, pipeline: Pipeline, by: User | None, name: str, **fields: object) -> Stage:
    """Add a stage (audited as "stage.create"). Open stages go before the won/lost stages;
    the shape rule still holds."""
    unknown = set(fields) - set(STAGE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Unknown stage field."))
    stage = Stage(pipeline=pipeline, name=name.strip(), **fields)  # type: ignore[arg-type]
    if "forecast_category" not in fields:
        stage.forecast_category = category_for(stage)
    if pipeline.stages.filter(name__iexact=stage.name).exists():
        raise ValidationError({"name": "This pipeline has a stage with this name."})
    if stage.is_open:
        first_closed = pipeline.stages.exclude(kind=Stage.Kind.OPEN).aggregate(m=Min("order"))["m"]
        if first_closed is None:
            stage.order = (pipeline.stages.aggregate(m=Max("order"))["m"] or 0) + 1
        else:
            # Make room: closed stages shift right by one.
            pipeline.stages.filter(order__gte=first_closed).update(order=F("order") + 1)
            stage.order = first_closed
    else:
        stage.order = (pipeline.stages.aggregate(m=Max("order"))["m"] or 0) + 1
    stage.full_clean()  # includes the one-won-stage constraint
    stage.save()
    check_pipeline_shape(pipeline)
    created = {name: getattr(stage, name) for name in (*STAGE_FIELDS, "order")}
    record(
        actor=by,
        action="stage.create",
        target=stage,
        changes={"pipeline": pipeline.name, **diff({}, created)},
    )
    return stage


@transaction.atomic
def update_stage(*, stage: Stage, by: User | None, **fields: object) -> Stage:
    """Edit a stage's settings. Changing its kind must keep the pipeline's shape, and a stage
    holding deals cannot change kind (the deals' closed/won state would lie)."""
    unknown = set(fields) - set(STAGE_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Unknown stage field."))
    if "kind" in fields and fields["kind"] != stage.kind and stage.opportunities.exists():
        raise ValidationError({"kind": "Move this stage's deals before changing its kind."})
    before = {name: getattr(stage, name) for name in fields}
    for name, value in fields.items():
        setattr(stage, name, value)
    if "name" in fields:
        stage.name = str(stage.name).strip()
        if stage.pipeline.stages.filter(name__iexact=stage.name).exclude(pk=stage.pk).exists():
            raise ValidationError({"name": "This pipeline has a stage with this name."})
    if not stage.is_open:
        stage.forecast_category = category_for(stage)
    stage.full_clean()
    stage.save()
    check_pipeline_shape(stage.pipeline)
    after = {name: getattr(stage, name) for name in fields}
    record(actor=by, action="stage.update", target=stage, changes=diff(before, after))
    return stage


@transaction.atomic
def reorder_stages(*, pipeline: Pipeline, by: User | None, stage_ids: Sequence[int]) -> list[Stage]:
    """Set the order of a pipeline's stages to `stage_ids` (all of them, each once). A change
    is audited once on the pipeline ("pipeline.reorder_stages", old → new order of names)."""
    stages = {s.pk: s for s in pipeline.stages.select_for_update().order_by("pk")}
    if sorted(stage_ids) != sorted(stages):
        raise ValidationError({"stages": "Send every stage of this pipeline exactly once."})
    before = [s.name for s in sorted(stages.values(), key=lambda s: (s.order, s.pk))]
    for index, pk in enumerate(stage_ids):
        stages[pk].order = index
    Stage.objects.bulk_update(list(stages.values()), ["order"])
    after = [stages[pk].name for pk in stage_ids]
    if after != before:
        record(
            actor=by,
            action="pipeline.reorder_stages",
            target=pipeline,
            changes={"stages": [before, after]},
        )
    return [stages[pk] for pk in stage_ids]


@transaction.atomic
def archive_stage(*, stage: Stage, by: User | None, archived: bool = True) -> Stage:
    """Archive (or restore) a stage ("stage.archive" / "stage.restore" in the audit trail).
    Only an empty stage can be archived: move its deals first."""
    if archived and Opportunity.objects.filter(stage=stage).exists():
        raise ValidationError({"stage": "This stage holds deals: move them before archiving it."})
    was_archived = stage.is_archived
    stage.is_archived = archived
    stage.save(update_fields=["is_archived"])
    check_pipeline_shape(stage.pipeline)
    if was_archived != archived:
        record(
            actor=by,
            action="stage.archive" if archived else "stage.restore",
            target=stage,
            changes={"is_archived": [was_archived, archived]},
        )
    return stage


@transaction.atomic
def delete_stage(*, stage: Stage, by: User | None) -> None:
    """Delete a stage that never held a deal (audited as "stage.delete"; the entry keeps its
    name). One with deals or history can only be archived."""
    if Opportunity.objects.filter(stage=stage).exists():
        raise ValidationError(
            {"stage": "This stage holds deals: it can only be archived after they move."}
        )
    if StageChange.objects.filter(Q(from_stage=stage) | Q(to_stage=stage)).exists():
        raise ValidationError({"stage": "Deals passed through this stage: archive it instead."})
    pipeline = stage.pipeline
    record(
        actor=by,
        action="stage.delete",
        target=stage,
        changes={"pipeline": pipeline.name, "name": [stage.name, None]},
    )
    stage.delete()
    check_pipeline_shape(pipeline)


@transaction.atomic
def save_lost_reason(
    *, by: User | None, label: str, reason: LostReason | None = None, is_active: bool = True
) -> LostReason:
    """Create or edit a lost reason; labels are unique (case-insensitive). Audited as
    "lost_reason.create" / "lost_reason.update"."""
    label = label.strip()
    if not label:
        raise ValidationError({"label": "Give the reason a label."})
    clash = LostReason.objects.filter(label__iexact=label)
    if reason is not None:
        clash = clash.exclude(pk=reason.pk)
    if clash.exists():
        raise ValidationError({"label": "This reason exists already."})
    created = reason is None
    if reason is None:
        order = (LostReason.objects.aggregate(m=Max("order"))["m"] or 0) + 1
        reason = LostReason(order=order)
    before = {} if created else {"label": reason.label, "is_active": reason.is_active}
    reason.label, reason.is_active = label, is_active
    reason.save()
    delta = diff(before, {"label": reason.label, "is_active": reason.is_active})
    if delta:
        action = "lost_reason.create" if created else "lost_reason.update"
        record(actor=by, action=action, target=reason, changes=delta)
    return reason
