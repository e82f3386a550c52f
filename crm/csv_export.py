"""CSV exports that spreadsheets cannot turn into formulas, streamed row by row.

A cell starting with = + - @ (or a tab / carriage return, which some spreadsheets skip
before looking) would run as a formula when the file is opened (CSV / formula injection).
`safe_cell` prefixes such text with an apostrophe, which spreadsheets show as plain text.
Numbers stay numbers: -12.5 (a Decimal, or the text "-12.5") exports unchanged. Any other
object (a user, a stage) is written as its text, so it is checked as text too.
Every CSV the app writes goes through this module.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Numbers and dates pass through; anything else becomes its text, neutralised if it
    looks like a formula. (csv.writer would call str() itself, after the check: a user named
    "=HYPERLINK(…)" in an owner column would slip through.)"""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal | date):  # bool is an int; datetime a date
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        try:
            float(text)  # "-12.5" is a number, not a formula
        except ValueError:
            return "'" + text
    return text


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


CHUNK_BYTES = 64_000


def csv_lines(header: Sequence[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The CSV text in ~64 KB chunks (header first), every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(safe_row(header))
    for row in rows:
        writer.writerow(safe_row(row))
        if buffer.tell() > CHUNK_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Iterable[Any]]
) -> StreamingHttpResponse:
    """A streamed `text/csv` download; memory stays flat however many rows there are."""
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
