"""CSV in and out for leads: header auto-matching, rows → import records, safe cells.

The CSV import runs the very same `leads.importing.service.import_leads` as the API, 1,000
rows per call, so the rules (normalised e-mail, first-wins duplicates, per-row errors) are
identical.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.csv_text import decode_csv
from crm.models import User
from leads.importing.service import MAX_BATCH, import_leads
from leads.models import LeadCsvUpload

FIELD_CHOICES: list[tuple[str, str]] = [
    ("email", "E-mail"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("company", "Company"),
    ("title", "Title"),
    ("phone", "Phone"),
    ("employee_count", "Employee count"),
    ("industry", "Industry"),
    ("country", "Country"),
    ("region", "Region"),
    ("source", "Source"),
    ("campaign", "Campaign"),
    ("utm_source", "UTM source"),
    ("utm_medium", "UTM medium"),
    ("utm_campaign", "UTM campaign"),
    ("external_id", "External id"),
]
# Extra header spellings that mean a lead field (after lower-casing and dropping punctuation).
SYNONYMS = {
    "emailaddress": "email",
    "mail": "email",
    "firstname": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "companyname": "company",
    "organisation": "company",
    "organization": "company",
    "account": "company",
    "jobtitle": "title",
    "phonenumber": "phone",
    "mobile": "phone",
    "employees": "employee_count",
    "companysize": "employee_count",
    "state": "region",
    "leadsource": "source",
    "id": "external_id",
    "externalid": "external_id",
}
ATTRIBUTE_PREFIX = "attributes."
MAX_CSV_BYTES = 5 * 1024 * 1024
# About what 5 MB of real leads holds; it bounds the preview and the import, which run
# inside one request (a million one-character rows also fit in 5 MB).
MAX_CSV_ROWS = 50_000


def _squash(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def auto_map(headers: Iterable[str]) -> dict[str, str]:
    """Guess each header's lead field by name ("E-mail Address" → email); "" = skip."""
    by_squashed = {_squash(name): name for name, _ in FIELD_CHOICES}
    by_squashed |= {_squash(label): name for name, label in FIELD_CHOICES}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        key = _squash(header)
        field = by_squashed.get(key) or SYNONYMS.get(key, "")
        if field in used:
            field = ""
        used.add(field)
        mapping[header] = field
    return mapping


def read_csv(content: str, *, max_rows: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a CSV text (delimiter sniffed: comma, semicolon or tab), blank rows
    skipped. See `read_csv_lines`."""
    headers, rows, _ = read_csv_lines(content, max_rows=max_rows)
    return headers, rows


def read_csv_lines(
    content: str, *, max_rows: int | None = None
) -> tuple[list[str], list[list[str]], list[int]]:
    """Headers, rows, and the line of the file each row starts on (what a person finds in
    their editor: blank lines and cells spanning several lines counted).

    With `max_rows`, rows are counted as they are parsed and the file is refused at the first
    row past the cap, so an oversized file never becomes a list in memory.
    """
    sample = content[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(content), dialect)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        headers = [h.strip() for h in next(reader, [])]
        if not any(headers):
            raise ValidationError({"file": "The first row must hold the column headers."})
        ended = reader.line_num  # the physical line the previous row ended on
        for row in reader:
            starts, ended = ended + 1, reader.line_num
            if any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(starts)
                if max_rows is not None and len(rows) > max_rows:
                    raise ValidationError(
                        {"file": f"At most {max_rows:,} rows per file; split larger files."}
                    )
    except csv.Error as error:  # e.g. an unterminated quote swallowing the rest of the file
        raise ValidationError(
            {"file": f"Could not read the CSV near line {reader.line_num}: {error}."}
        ) from None
    return headers, rows, lines


def decode_upload(raw: bytes) -> str:
    if len(raw) > MAX_CSV_BYTES:
        raise ValidationError({"file": "At most 5 MB per file; split larger files."})
    return decode_csv(raw)


def parse_upload(raw: bytes) -> tuple[str, list[str]]:
    """Check an uploaded file before anything is stored; returns its text and headers.

    Refused with a message for the form: over 5 MB or 50,000 rows, not text, no header row,
    no data rows, or a first row that is data (an e-mail address where a header belongs).
    """
    content = decode_upload(raw)
    headers, rows = read_csv(content, max_rows=MAX_CSV_ROWS)
    if not rows:
        raise ValidationError({"file": "The file has headers but no rows."})
    if not any(auto_map(headers).values()) and any("@" in header for header in headers):
        raise ValidationError(
            {
                "file": "The first row looks like data (it holds an e-mail address): add a "
                "header row naming the columns, e.g. email,first_name,last_name."
            }
        )
    return content, headers


def row_shape_error(row: list[str], width: int) -> str:
    """Why a row cannot be imported as it stands ("" if it can): more non-empty cells than
    there are headers means the cells are shifted (typically an unquoted comma), so none of
    them can be trusted. Short rows are fine: the missing cells are blank."""
    if len(row) > width and any(cell.strip() for cell in row[width:]):
        return (
            f"cells: {len(row)} cells but {width} column headers (a value holding the "
            "delimiter must be quoted)."
        )
    return ""


def rows_to_records(
    headers: list[str], rows: list[list[str]], column_map: dict[str, str]
) -> list[dict[str, Any]]:
    """Each row becomes one import record with only its non-empty mapped cells (an empty
    cell never blanks out a stored value)."""
    positions = [(i, column_map.get(h, "")) for i, h in enumerate(headers)]
    records = []
    for row in rows:
        record: dict[str, Any] = {}
        for i, field in positions:
            if not field or i >= len(row):
                continue
            value = row[i].strip()
            if value == "":
                continue
            if field.startswith(ATTRIBUTE_PREFIX):
                record.setdefault("attributes", {})[field.removeprefix(ATTRIBUTE_PREFIX)] = value
            else:
                record[field] = value
        records.append(record)
    return records


def _chunks(items: list[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def run_csv_import(*, upload: LeadCsvUpload, by: User, dry_run: bool) -> dict[str, Any]:
    """Preview (dry run) or run the import of an uploaded CSV with its saved column map.

        Returns counts and, for a real run, stores the failed rows on the upload for the
        downloadable report. Each 1,000-row chunk is one `import_leads` call (its own savepoint,
    inside this function's transaction with the upload's report).
    """
    headers, rows, lines = read_csv_lines(upload.content)
    records = rows_to_records(headers, rows, upload.columns)
    totals = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0, "rows": len(records)}
    failed_rows: list[dict[str, Any]] = []

    def fail(index: int, errors: str) -> None:
        # the line of the file the row starts on (1-based, the header is line 1)
        failed_rows.append({"row": lines[index], "cells": rows[index], "errors": errors})

    # Misshapen rows fail alone, before the service sees them; the rest keep their index.
    good: list[tuple[int, dict[str, Any]]] = []
    for index, record in enumerate(records):
        if error := row_shape_error(rows[index], len(headers)):
            fail(index, error)
        else:
            good.append((index, record))
    totals["failed"] = len(failed_rows)
    with transaction.atomic():
        for _, chunk in _chunks(good, MAX_BATCH):
            outcome = import_leads(
                records=[record for _, record in chunk],
                match_on=upload.match_on,
                by=by,
                dry_run=dry_run,
            )
            for key in ("created", "updated", "unchanged", "failed"):
                totals[key] += getattr(outcome, key)
            for result in outcome.results:
                if result["status"] == "failed":
                    fail(
                        chunk[result["index"]][0],
                        "; ".join(
                            f"{field}: {' '.join(messages)}"
                            for field, messages in result["errors"].items()
                        ),
                    )
        failed_rows.sort(key=lambda failed: failed["row"])
        if not dry_run:
            upload.summary = totals
            upload.failed_rows = failed_rows
            upload.imported_at = timezone.now()
            upload.save(update_fields=["summary", "failed_rows", "imported_at"])
    return {**totals, "failed_rows": failed_rows[:20]}


# --- CSV out ----------------------------------------------------------------------------


def failed_rows_table(upload: LeadCsvUpload) -> tuple[list[str], Iterator[list[Any]]]:
    """The failed rows of an import: header and rows (the original cells plus row number and
    errors), for `crm.csv_export`, which neutralises formulas in every cell, header included
    (the headers and cells are the uploader's own text)."""
    headers, _ = read_csv(upload.content)
    rows = ([failed["row"], *failed["cells"], failed["errors"]] for failed in upload.failed_rows)
    return ["row", *headers, "errors"], rows
