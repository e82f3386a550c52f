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
from typing import TYPE_CHECKING, Any

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


# --- e-mail from a record: who it can go to, and the merge fields of templates -----------------


@dataclass(frozen=True)
class Recipient:
    """Someone a record's e-mail can go to (the lead; a deal's contact)."""

    label: str
    address: str


@dataclass(frozen=True)
class EmailSubject:
    """E-mail can be sent from records of `model`: `recipients(record)` offers the addresses
    (query-free on a record loaded with its relations), `merge_values(record)` fills the merge
    fields ({group: {field: value}}) of the groups it knows."""

    model: type[models.Model]
    recipients: Callable[[Any], list[Recipient]]
    merge_values: Callable[[Any], dict[str, dict[str, str]]]


@dataclass(frozen=True)
class MergeGroup:
    """Merge fields `{{ <name>.<field> }}` a template may use; `fields` maps field → label."""

    name: str
    fields: dict[str, str]
    order: int


_email_subjects: dict[type[models.Model], EmailSubject] = {}
_merge_groups: dict[str, MergeGroup] = {}


def register_email_subject(
    *,
    model: type[models.Model],
    recipients: Callable[[Any], list[Recipient]],
    merge_values: Callable[[Any], dict[str, dict[str, str]]],
) -> None:
    """E-mail can be sent from `model`'s records, which must be a registered subject (the
    e-mail is logged as an activity on it)."""
    if subject_for(model) is None:
        raise ValueError(f"{model._meta.label} is not an activity subject: register it first")
    _email_subjects[model] = EmailSubject(
        model=model, recipients=recipients, merge_values=merge_values
    )


def email_subject_for(model: type[models.Model]) -> EmailSubject | None:
    return _email_subjects.get(model)


def register_merge_group(*, name: str, fields: dict[str, str], order: int) -> None:
    """Merge fields templates may name: `{{ name.field }}` for each of `fields`."""
    _merge_groups[name] = MergeGroup(name=name, fields=dict(fields), order=order)


def merge_groups() -> list[MergeGroup]:
    """Every group of merge fields, in `order` (the template page lists them)."""
    return sorted(_merge_groups.values(), key=lambda group: (group.order, group.name))
