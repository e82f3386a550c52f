"""CSV downloads that spreadsheets cannot turn into formulas."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

from django.http import HttpResponse

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """Neutralise formula injection: a text cell starting with = + - @ gets a leading quote.
    Plain numbers (including negative ones) stay numbers."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(DANGEROUS):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return response
