"""API errors as JSON: Django's ValidationError becomes a 400 with field errors, and a value
the database refuses (DataError: a date or number out of its range) a 400, never a 500."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, DataError):
        # Only client input reaches the database unchecked this way (e.g. a UTC offset of
        # +18:53, which PostgreSQL refuses); the statement failed, nothing was written.
        exc = exceptions.ValidationError(
            {"detail": "A value is outside the range the database accepts."}
        )
    return drf_exception_handler(exc, context)
