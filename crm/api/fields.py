"""Serializer fields that take JSON's types at their word, and related fields narrowed to the
user's scope.

DRF's fields are lenient: a CharField takes 12 and stores "12", a BooleanField takes 0, "no"
or "off", an IntegerField takes "12". The schema promises a string, a boolean, an integer:
a client sending something else has a bug it should hear about (and the API fuzzing checks
that such a request is refused), so these fields answer 400 instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A JSON string only."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only (not a boolean, a float or a numeric string)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class ScopedChoicesMixin(serializers.Serializer):
    """Related fields whose choices are what the requesting user may pick (anything else is a
    400, as if it did not exist): `scoped_choices = {"owner": users_visible_to,
    "account": Account.objects.visible_to}` maps a field to `scope(user) -> queryset`."""

    scoped_choices: ClassVar[dict[str, Callable[[Any], QuerySet[Any]]]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is None:  # schema generation: no user, no choices
            return
        for name, scope in self.scoped_choices.items():
            if name in self.fields:
                self.fields[name].queryset = scope(request.user)  # type: ignore[attr-defined]
