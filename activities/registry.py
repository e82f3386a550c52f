"""What activities are logged on: the features register their subjects here.

An Activity points at its subject through a nullable foreign key (`lead`, `opportunity`);
the feature that owns the subject model registers it from its `AppConfig.ready()`, so that
`Activity.objects.visible_to(user)` follows the subject's own scope, links open the
subject's page, and open tasks follow their subject when it changes hands — without this
app importing the feature:

    activities.registry.register_subject(field="lead", model=Lead, order=10)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from activities.models import Activity


@dataclass(frozen=True)
class ActivitySubject:
    """`Activity.<field>` points at `model`, whose manager has `visible_to(user)`.
    `on_logged(activity, now)` is what logging an activity does to its subject (the rotting
    clock, first contact); it runs in `create_activity`'s transaction."""

    field: str
    model: type[models.Model]
    order: int
    on_logged: Callable[[Activity, datetime], None] | None = None


_subjects: dict[str, ActivitySubject] = {}


def register_subject(
    *,
    field: str,
    model: type[models.Model],
    order: int,
    on_logged: Callable[[Activity, datetime], None] | None = None,
) -> None:
    """Register `Activity.<field>` as a subject; the foreign key must exist and point at
    `model` (a typo would otherwise silently hide activities)."""
    # Cycle: activities.models reads this registry (visible_to, subject links).
    from activities.models import Activity

    related = Activity._meta.get_field(field).related_model
    if related is not model:
        raise ValueError(f"Activity.{field} points at {related}, not {model._meta.label}")
    if not hasattr(model._default_manager, "visible_to"):
        raise TypeError(f"{model._meta.label} has no visible_to(user)")
    _subjects[field] = ActivitySubject(field=field, model=model, order=order, on_logged=on_logged)


def subjects() -> list[ActivitySubject]:
    """Every registered subject, in `order` (the first one set is an activity's subject)."""
    return sorted(_subjects.values(), key=lambda subject: (subject.order, subject.field))


def subject_for(model: type[models.Model]) -> ActivitySubject | None:
    return next((s for s in _subjects.values() if s.model is model), None)
