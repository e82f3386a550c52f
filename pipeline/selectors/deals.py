"""The deal page's reads: stage path with time in each stage, history, activities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Q,
    QuerySet,
)
from django.utils import timezone

from activities.models import Activity
from activities.selectors import activity_timeline
from crm.models import User
from pipeline.models import LostReason, Opportunity, Stage, StageChange


@dataclass
class StageStep:
    stage: Stage
    seconds: int
    state: str  # "done", "current", "todo"

    @property
    def label(self) -> str:
        """Time spent in the stage, e.g. "3d 4h", "5h 10m", "12m"; "—" if never there."""
        if not self.seconds and self.state != "current":
            return "—"
        days, rest = divmod(self.seconds, 86400)
        hours, rest = divmod(rest, 3600)
        if days:
            return f"{days}d {hours}h"
        if hours:
            return f"{hours}h {rest // 60}m"
        return f"{rest // 60}m"


@dataclass
class OpportunityDetail:
    opportunity: Opportunity
    path: list[StageStep]
    history: list[StageChange]
    activities: list[Activity]
    open_tasks: list[Activity]
    stages: list[Stage]
    lost_reasons: list[LostReason]


def opportunity_for(*, user: User) -> QuerySet[Opportunity]:
    """Visible deals with what a page or the API prints about them joined in."""
    return Opportunity.objects.visible_to(user).select_related(
        "stage", "pipeline", "owner", "account", "lead", "lost_reason"
    )


def opportunity_detail(
    *, user: User, opportunity: Opportunity, now: datetime | None = None
) -> OpportunityDetail:
    """Stage path with time spent in each stage, history, activities and open tasks (4 queries).

    Time in a stage is the sum of every stay in it (deals can go back), plus the current stay.
    """
    now = now or timezone.now()
    history = list(
        opportunity.stage_changes.select_related("from_stage", "to_stage", "changed_by").order_by(
            "-changed_at", "-pk"
        )
    )
    stages = list(
        opportunity.pipeline.stages.filter(Q(is_archived=False) | Q(pk=opportunity.stage_id))
    )
    seconds: dict[int, int] = {}
    for change in history:
        if change.from_stage_id and change.seconds_in_from_stage:
            seconds[change.from_stage_id] = (
                seconds.get(change.from_stage_id, 0) + change.seconds_in_from_stage
            )
    current = opportunity.stage
    seconds[current.pk] = seconds.get(current.pk, 0) + max(
        0, int((now - opportunity.stage_entered_at).total_seconds())
    )
    path = []
    shown = [s for s in stages if s.is_open or s.pk == current.pk]
    if current.is_open:
        # The open path ends in the won stage: that is where the deal is heading.
        shown += [s for s in stages if s.kind == Stage.Kind.WON]
    for stage in shown:
        if stage.pk == current.pk:
            state = "current"
        elif stage.is_open and (stage.order < current.order or not current.is_open):
            state = "done"
        else:
            state = "todo"
        path.append(StageStep(stage=stage, seconds=seconds.get(stage.pk, 0), state=state))
    activities = activity_timeline(subject=opportunity)
    open_tasks = sorted(
        (a for a in activities if a.kind == Activity.Kind.TASK and a.done_at is None),
        key=lambda a: a.due_at or now,
    )
    return OpportunityDetail(
        opportunity=opportunity,
        path=path,
        history=history,
        activities=activities,
        open_tasks=open_tasks,
        stages=stages,
        lost_reasons=list(LostReason.objects.filter(is_active=True)),
    )
