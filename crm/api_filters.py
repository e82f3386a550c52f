"""The API's filter backend: django-filter, strict about malformed parameters."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class StrictFilterBackend(DjangoFilterBackend):
    """Like DjangoFilterBackend, but `?role=` (a filter given with no value) is a 400 naming
    the parameter instead of silently meaning "no filter": a client that sends a filter
    must get it applied or hear why not."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            names = set(filterset_class.base_filters)
            empty = sorted(
                name
                for name in names
                if name in request.query_params and not request.query_params.get(name, "").strip()
            )
            if empty:
                raise ValidationError(dict.fromkeys(empty, "Give a value or leave the filter out."))
        return super().filter_queryset(request, queryset, view)
