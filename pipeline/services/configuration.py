"""Pipeline configuration: pipelines, their stages and the lost reasons.

Every change goes through here, so the shape rule ("exactly one won, at least one lost and one
open stage") is checked in one place, and every change is audited (old → new).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from crm.audit import diff, record
from crm.models import User
from pipeline.models import LostReason, Opportunity, Pipeline, Stage, StageChange
from pipeline.services.deals import category_for


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
        stage = Stage(pipeline=pipeline, order=index, **spec)
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
    stage = Stage(pipeline=pipeline, name=name.strip(), **fields)
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
