"""Serializer fields that take JSON's types at their word.

DRF's fields are lenient: a CharField takes 12 and stores "12", a BooleanField takes 0, "no"
or "off", an IntegerField takes "12". The schema promises a string, a boolean, an integer:
a client sending something else has a bug it should hear about (and the API fuzzing checks
that such a request is refused), so these fields answer 400 instead of guessing.
"""

from __future__ import annotations

from typing import Any

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
