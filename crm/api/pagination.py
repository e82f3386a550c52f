from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class CursorPagination(pagination.CursorPagination):
    """Stable pages over changing data: newest first, `?page_size=` from 1 up to 500.

    A malformed page size is a 400 naming the parameter, not silently the default.
    """

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                size = int(raw)
            except ValueError:
                raise ValidationError({"page_size": "A whole number from 1 to 500."}) from None
            if size < 1:
                raise ValidationError({"page_size": "A whole number from 1 to 500."})
        return super().get_page_size(request)
