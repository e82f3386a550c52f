"""The records webhook payloads carry: the features register them here.

A feature that emits events (leads, pipeline, activities, forms) registers, from its
`AppConfig.ready()`, how to serialise its records for a payload and which model's
`visible_to(acting_user)` decides, at send time, whether a subscription may receive them:

    webhooks.registry.register_record(
        model=Lead, name="lead", serialize=lead_payloads, schema=LeadSerializer
    )

`serialize(ids)` returns {pk: JSON-ready dict} in one query (a row gone by now is missing);
`schema` (a DRF serializer class, optional) documents the object in the OpenAPI schema.
This app never imports the features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models

Serialize = Callable[[Sequence[int]], dict[int, dict[str, Any]]]


@dataclass(frozen=True)
class RecordKind:
    """A model whose rows are the `object` of webhook events."""

    model: type[models.Model]
    name: str
    serialize: Serialize
    schema: type | None = None

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


_kinds: dict[str, RecordKind] = {}


def register_record(
    *, model: type[models.Model], name: str, serialize: Serialize, schema: type | None = None
) -> None:
    """Idempotent (keyed by the model). The model's manager must have `visible_to(user)`."""
    if not hasattr(model._default_manager, "visible_to"):
        raise TypeError(f"{model._meta.label} has no visible_to(user)")
    kind = RecordKind(model=model, name=name, serialize=serialize, schema=schema)
    _kinds[kind.label] = kind


def kind_for(model: type[models.Model]) -> RecordKind:
    """The registered kind of `model`; LookupError names a feature that forgot to register."""
    try:
        return _kinds[model._meta.label_lower]
    except KeyError:
        raise LookupError(f"{model._meta.label} is not registered with webhooks") from None


def kind_for_label(label: str) -> RecordKind | None:
    return _kinds.get(label)


def kinds() -> list[RecordKind]:
    """Every registered kind, in registration order."""
    return list(_kinds.values())
