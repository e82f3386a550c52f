"""The API's filter backend: django-filter, strict about malformed parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

BOOLEAN_VALUES = frozenset({"true", "false"})


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 datetime converted to UTC: PostgreSQL refuses offsets past ±15:59 (which
    ISO allows), so the database only ever sees +00:00; a value that leaves the calendar when
    converted is a 400."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                "This date and time is out of range.", code="invalid"
            ) from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """`?updated_since=` and friends: ISO 8601, compared in UTC."""

    field_class = UtcIsoDateTimeField


def _parameter_names(filterset_class: type[django_filters.FilterSet]) -> list[str]:
    """The query parameters a filterset reads: range filters read `<name>_after` /
    `<name>_before` (their widget's suffixes), the others their own name."""
    names = []
    for name, declared in filterset_class.base_filters.items():
        suffixes = getattr(declared.field_class.widget, "suffixes", None) or getattr(
            declared.extra.get("widget"), "suffixes", None
        )
        names += [f"{name}_{s}" if s else name for s in suffixes] if suffixes else [name]
    return names


class StrictFilterBackend(DjangoFilterBackend):
    """Like DjangoFilterBackend, but `?role=` (a filter given with no value) or
    `?is_stale=maybe` (a boolean that is not true/false) is a 400 naming the parameter
    instead of silently meaning "no filter": a client that sends a filter must get it
    applied or hear why not."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            names = set(_parameter_names(filterset_class))
            empty = sorted(
                name
                for name in names
                if name in request.query_params and not request.query_params.get(name, "").strip()
            )
            if empty:
                raise ValidationError(dict.fromkeys(empty, "Give a value or leave the filter out."))
            not_boolean = sorted(
                name
                for name, declared in filterset_class.base_filters.items()
                if isinstance(declared, django_filters.BooleanFilter)
                and any(
                    value.lower() not in BOOLEAN_VALUES
                    for value in request.query_params.getlist(name)
                )
            )
            if not_boolean:
                raise ValidationError(dict.fromkeys(not_boolean, "Use true or false."))
        return super().filter_queryset(request, queryset, view)
