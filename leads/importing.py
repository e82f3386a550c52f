"""Bulk lead import: validate a batch in one pass, then upsert it with set-based statements.

The API (`POST /api/v1/leads/import/`) and the CSV import page both call `import_leads`.
Rules: each record is matched on `match_on` (email or external_id) and created or updated
with only the fields it sends; a failed record writes nothing and never blocks the others;
the first of two records with the same key wins. The unique indexes decide races between
overlapping imports: the loser's write phase is rolled back to a savepoint and retried, and
then sees the winner's rows as updates.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from crm.bulk import array_type, pg_array, update_rows
from crm.models import User, users_visible_to
from leads.models import Lead

MAX_BATCH = 1000
MAX_ATTRIBUTES_BYTES = 16 * 1024
MATCH_KEYS = ("email", "external_id")

# Plain text fields a client may send, with their column lengths.
TEXT_FIELDS: dict[str, int] = {
    name: Lead._meta.get_field(name).max_length  # type: ignore[misc]
    for name in (
        "first_name",
        "last_name",
        "phone",
        "title",
        "company",
        "industry",
        "country",
        "region",
        "campaign",
        "utm_source",
        "utm_medium",
        "utm_campaign",
    )
}
WRITABLE_FIELDS: tuple[str, ...] = (
    "email",
    "external_id",
    *TEXT_FIELDS,
    "employee_count",
    "source",
    "attributes",
    "owner",
)
# Known lead fields a client may read but not write: named as read-only, not "unknown".
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "score",
        "fit_score",
        "engagement_score",
        "score_breakdown",
        "stage",
        "account",
        "created_at",
        "updated_at",
        "first_contacted_at",
        *(f"{stage}_at" for stage in Lead.Lifecycle.values if stage != "new"),
    }
)
EXTERNAL_ID_MAX = Lead._meta.get_field("external_id").max_length or 100
EMAIL_MAX = Lead._meta.get_field("email").max_length or 254
SOURCES = frozenset(Lead.Source.values)
# A strict subset of what Django's EmailValidator accepts (dot-atom user, LDH labels, alpha
# TLD): most addresses pass this one compiled regex; the rest get the full validator.
COMMON_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z"
)

logger = logging.getLogger(__name__)


class BatchTooLarge(Exception):
    """More than MAX_BATCH records in one call."""


@dataclass
class ImportOutcome:
    """What an import did, record by record (in request order)."""

    results: list[dict[str, Any]]
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    lead_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "results": self.results,
        }


def normalise_email(value: str) -> str:
    return value.strip().lower()


def clean_lead_fields(data: Any, *, partial: bool = True) -> tuple[dict[str, Any], dict]:
    """Check one record's shape (no queries): returns (clean values, field errors).

    Only sent fields appear in the clean values, so callers never blank out what was not sent.
    `owner` comes back as a user id; its existence is checked by the caller, set-based.
    """
    if not isinstance(data, dict):
        return {}, {"non_field_errors": ["Expected a JSON object for each lead."]}
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    unknown = []
    for name, value in data.items():
        if name in TEXT_FIELDS:
            if value is None:
                value = ""
            if not isinstance(value, str):
                errors[name] = ["Expected a string."]
            elif len(value.strip()) > TEXT_FIELDS[name]:
                errors[name] = [f"At most {TEXT_FIELDS[name]} characters."]
            else:
                clean[name] = value.strip()
        elif name == "email":
            if not isinstance(value, str) or not value.strip():
                errors[name] = ["A valid e-mail address is required."]
                continue
            email = normalise_email(value)
            if len(email) > EMAIL_MAX:
                errors[name] = [f"At most {EMAIL_MAX} characters."]
                continue
            if COMMON_EMAIL.match(email):
                clean[name] = email
                continue
            try:
                validate_email(email)
            except ValidationError:
                errors[name] = ["Enter a valid e-mail address."]
            else:
                clean[name] = email
        elif name == "external_id":
            if value is None or (isinstance(value, str) and not value.strip()):
                clean[name] = None
            elif isinstance(value, int | str) and not isinstance(value, bool):
                text = str(value).strip()
                if len(text) > EXTERNAL_ID_MAX:
                    errors[name] = [f"At most {EXTERNAL_ID_MAX} characters."]
                else:
                    clean[name] = text
            else:
                errors[name] = ["Expected a string."]
        elif name == "employee_count":
            if value is None or value == "":
                clean[name] = None
            elif isinstance(value, bool) or not isinstance(value, int | str):
                errors[name] = ["Expected a whole number."]
            else:
                try:
                    number = int(value)
                except ValueError:
                    errors[name] = ["Expected a whole number."]
                else:
                    if 0 <= number <= 2_147_483_647:
                        clean[name] = number
                    else:
                        errors[name] = ["Must be between 0 and 2147483647."]
        elif name == "source":
            if not isinstance(value, str) or value not in SOURCES:  # {} or [] is unhashable
                errors[name] = [f"Expected one of: {', '.join(sorted(SOURCES))}."]
            else:
                clean[name] = value
        elif name == "attributes":
            if not isinstance(value, dict):
                errors[name] = ["Expected a JSON object."]
            elif not _surely_small(value) and _json_size(value) > MAX_ATTRIBUTES_BYTES:
                errors[name] = ["At most 16 KB of custom attributes."]
            else:
                clean[name] = value
        elif name == "owner":
            if value is None:
                clean[name] = None
            elif isinstance(value, bool) or not isinstance(value, int):
                errors[name] = ["Expected a user id or null."]
            else:
                clean[name] = value
        elif name in READ_ONLY_FIELDS:
            errors[name] = ["This field is read-only."]
        else:
            unknown.append(str(name))
    if unknown:
        errors["non_field_errors"] = [
            f"Unknown field(s): {', '.join(sorted(unknown))}. Put custom data in attributes."
        ]
    if not partial and "email" not in clean and "email" not in errors:
        errors["email"] = ["This field is required."]
    return clean, errors


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def _surely_small(value: dict[str, Any]) -> bool:
    """Cheap proof that a flat object serialises under 16 KB (≤ 32 keys, short keys and
    values, each char at most 6 bytes escaped), so most records skip the exact json.dumps."""
    if len(value) > 32:
        return False
    for key, item in value.items():
        if len(key) > 40:
            return False
        if isinstance(item, str):
            if len(item) > 40:
                return False
        elif not isinstance(item, int | float | bool | None):
            return False
    return True


def merge_attributes(current: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """Shallow merge: sent keys replace, a key sent as null is removed, others are kept."""
    merged = {**current, **sent}
    return {k: v for k, v in merged.items() if v is not None}


def _apply(lead: SimpleNamespace, values: dict[str, Any]) -> list[str]:
    """Set the sent values on `lead`; return the names of the fields that changed."""
    changed = []
    for name, value in values.items():
        if name == "owner":
            if lead.owner_id != value:
                lead.owner_id = value
                changed.append("owner")
            continue
        if name == "attributes":
            value = merge_attributes(lead.attributes or {}, value)
            if _json_size(value) > MAX_ATTRIBUTES_BYTES:
                raise ValidationError({"attributes": ["At most 16 KB of custom attributes."]})
        if getattr(lead, name) != value:
            setattr(lead, name, value)
            changed.append(name)
    return changed


def import_leads(
    *, records: list[Any], match_on: str, by: User, dry_run: bool = False
) -> ImportOutcome:
    """Upsert up to MAX_BATCH leads, one result per record in request order.

    Set-based: a fixed number of queries whatever the batch size (lookups by key, one INSERT,
    one UPDATE, one scoring call). Atomic per record: a failed record writes nothing. Safe
    against concurrent overlapping imports (the unique indexes decide; the loser retries).
    `dry_run` computes the same results without writing (the CSV preview).
    """
    if match_on not in MATCH_KEYS:
        raise ValidationError({"match_on": [f"Expected one of: {', '.join(MATCH_KEYS)}."]})
    if len(records) > MAX_BATCH:
        raise BatchTooLarge(f"At most {MAX_BATCH} leads per call; this one has {len(records)}.")
    results: list[dict[str, Any]] = [
        {"index": i, "status": "failed", "id": None, "errors": {}} for i in range(len(records))
    ]
    valid: dict[int, dict[str, Any]] = {}
    first_with: dict[tuple[str, str], int] = {}
    for index, record in enumerate(records):
        clean, errors = clean_lead_fields(record, partial=True)
        if not errors and clean.get(match_on) is None:
            errors[match_on] = [f"Required: this import matches on {match_on}."]
        # Secondary unique keys (email with external_id) must not repeat in one batch either.
        for key in MATCH_KEYS:
            value = clean.get(key)
            if errors or value is None:
                continue
            if (key, value) in first_with:
                errors[key] = [
                    f"Same {key} as record {first_with[(key, value)]} in this batch; "
                    "the first one wins."
                ]
        if errors:
            results[index]["errors"] = errors
            continue
        for key in MATCH_KEYS:
            if clean.get(key) is not None:
                first_with[(key, clean[key])] = index
        valid[index] = clean
    outcome = ImportOutcome(results=results)
    if valid:
        with transaction.atomic():
            _upsert_with_retry(valid, results, match_on=match_on, by=by, dry_run=dry_run)
            written = [
                r["id"] for r in results if r["status"] in ("created", "updated") and r["id"]
            ]
            if written and not dry_run:
                from crm.audit import record_many
                from scoring.services import score_leads

                # Created leads were scored as they were inserted (fit only: no events yet).
                score_leads(lead_ids=[r["id"] for r in results if r["status"] == "updated"])
                for status in ("created", "updated"):
                    record_many(
                        actor=by,
                        action=f"lead.import.{status}",
                        model=Lead,
                        ids=[r["id"] for r in results if r["status"] == status and r["id"]],
                    )
            outcome.lead_ids = written
    for result in results:
        status = result["status"]
        setattr(outcome, status, getattr(outcome, status) + 1)
        if status != "failed":
            result["errors"] = {}
    return outcome


def _upsert_with_retry(
    valid: dict[int, dict[str, Any]],
    results: list[dict[str, Any]],
    *,
    match_on: str,
    by: User,
    dry_run: bool,
    attempts: int = 4,
) -> None:
    for attempt in range(attempts):
        try:
            # A savepoint: when a concurrent import inserted one of our keys first, the
            # unique index refuses our INSERT; roll back to here and redo the batch, which now
            # sees those rows as existing.
            with transaction.atomic():
                _upsert(valid, results, match_on=match_on, by=by, dry_run=dry_run)
            return
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            logger.info("lead import lost a key race to a concurrent import; retrying")
        except OperationalError as error:  # a deadlock between two batches: same remedy
            if "deadlock" not in str(error).lower() or attempt == attempts - 1:
                raise
            logger.info("lead import deadlocked with a concurrent import; retrying")
        for index in valid:
            results[index].update(status="failed", id=None, errors={})


def _upsert(
    valid: dict[int, dict[str, Any]],
    results: list[dict[str, Any]],
    *,
    match_on: str,
    by: User,
    dry_run: bool,
) -> None:
    other = "external_id" if match_on == "email" else "email"
    keys = [clean[match_on] for clean in valid.values()]
    other_values = [c[other] for c in valid.values() if c.get(other) is not None]
    # One statement reads the leads matching either unique key, so both lookups see the same
    # snapshot (two statements could straddle a concurrent import's commit). The rows are
    # locked in pk order: concurrent batches touching the same leads serialise instead of
    # overwriting each other's fields, and cannot deadlock on these rows. Plain rows, not
    # model instances: building 1,000 Lead objects costs more than the query.
    columns = ["pk", *[f for f in WRITABLE_FIELDS if f != "owner"], "owner_id"]
    wanted = Q(**{f"{match_on}__any": keys})
    if other_values:
        wanted |= Q(**{f"{other}__any": other_values})
    matched = Lead.objects.filter(wanted).order_by("pk")
    if not dry_run:  # a preview reads without locking
        matched = matched.select_for_update()
    rows = list(matched.values(*columns))
    key_set = set(keys)
    existing = {row[match_on]: SimpleNamespace(**row) for row in rows if row[match_on] in key_set}
    # The other unique key must not belong to a different lead.
    owner_of_other = {row[other]: row["pk"] for row in rows if row[other] is not None}
    owner_ids = {c["owner"] for c in valid.values() if c.get("owner") is not None}
    # Only owners the importer could assign by hand (marketing and admins: anyone active).
    known_owners = set(
        users_visible_to(by).filter(pk__in=owner_ids).values_list("pk", flat=True)
        if owner_ids
        else []
    )
    # A match the importer may not see is refused, never silently updated (visibility scope).
    sees_all = by.is_admin or by.role == User.Role.MARKETING
    hidden: set[int] = set()
    if existing and not sees_all:
        visible = Lead.objects.visible_to(by).filter(pk__in=[x.pk for x in existing.values()])
        hidden = {x.pk for x in existing.values()} - set(visible.values_list("pk", flat=True))
    now = timezone.now()
    to_create: list[tuple[int, dict[str, Any]]] = []
    to_update: list[SimpleNamespace] = []
    update_fields: set[str] = set()
    for index, clean in valid.items():
        result = results[index]
        lead = existing.get(clean[match_on])
        errors: dict[str, list[str]] = {}
        if lead is not None and lead.pk in hidden:
            result.update(
                status="failed",
                id=None,
                errors={match_on: ["A lead with this key exists and is not yours to update."]},
            )
            continue
        if clean.get("owner") is not None and clean["owner"] not in known_owners:
            errors["owner"] = ["No active user with this id that you may assign."]
        holder = owner_of_other.get(clean.get(other)) if clean.get(other) is not None else None
        if holder is not None and (lead is None or holder != lead.pk):
            errors[other] = [f"Already used by another lead (id {holder})."]
        if lead is None and "email" not in clean:
            errors["email"] = ["Required to create a lead."]
        if errors:
            result.update(status="failed", id=None, errors=errors)
            continue
        if lead is None:
            values = {"source": Lead.Source.IMPORT, **clean}
            if "attributes" in values:
                values["attributes"] = merge_attributes({}, values["attributes"])
            if "owner" in values:
                values["owner_id"] = values.pop("owner")
            elif not sees_all:  # a rep's or manager's import stays visible to them
                values["owner_id"] = by.pk
            to_create.append((index, values))
            continue
        try:
            changed = _apply(lead, clean)
        except ValidationError as error:
            result.update(status="failed", id=None, errors=error.message_dict)
            continue
        result["id"] = lead.pk
        if changed:
            result["status"] = "updated"
            lead.updated_at = now
            update_fields.update(changed)
            to_update.append(lead)
        else:
            result["status"] = "unchanged"
    if dry_run:
        for index, _lead in to_create:
            results[index].update(status="created", id=None)
        return
    if to_create:
        # Insert in key order so two batches inserting overlapping keys take the unique-index
        # locks in the same order (the second waits, then fails over to the retry above).
        from scoring.services import NewLeadScoring

        to_create.sort(key=lambda pair: pair[1][match_on])
        rows = [values for _, values in to_create]
        scoring = NewLeadScoring(now=now)
        scoring.fill(rows)  # inserted already scored: no UPDATE afterwards
        ids = _insert(rows, now=now)
        for (index, _values), pk in zip(to_create, ids, strict=True):
            results[index].update(status="created", id=pk)
        scoring.record(list(zip(ids, rows, strict=True)))
    if to_update:
        _update(to_update, [*sorted(update_fields), "updated_at"])


def _insert(rows: list[dict[str, Any]], *, now: datetime) -> list[int]:
    """INSERT new leads (each a dict of sent values; the rest take the model defaults) and
    return their ids in order.

    On PostgreSQL one `INSERT … SELECT FROM unnest(arrays)` statement: one array literal per
    column (crm.bulk.pg_array) instead of 50 parameters per row, which keeps a 1,000-lead batch cheap to send and
    to plan. Elsewhere Django's bulk_create.
    """
    if connection.vendor != "postgresql":
        leads = [Lead(created_at=now, updated_at=now, **values) for values in rows]
        Lead.objects.bulk_create(leads)
        return [lead.pk for lead in leads]
    columns, casts, arrays = [], [], []
    for model_field, default in _insert_defaults():
        name = model_field.attname
        if name in ("created_at", "updated_at"):
            values: list[Any] = [now] * len(rows)
        else:
            values = [row.get(name, default) for row in rows]
        if isinstance(model_field, models.JSONField):
            unsent = json.dumps(default)  # most rows leave score_breakdown etc. at the default
            values = [unsent if v is default else json.dumps(v) for v in values]
        columns.append(connection.ops.quote_name(model_field.column))
        casts.append(f"%s::{array_type(model_field)}[]")
        arrays.append(pg_array(values))
    sql = (
        f"INSERT INTO {connection.ops.quote_name(Lead._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT * FROM unnest({', '.join(casts)}) RETURNING id, email"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        by_email = {email: pk for pk, email in cursor.fetchall()}
    return [by_email[row["email"]] for row in rows]


@lru_cache(maxsize=1)
def _insert_defaults() -> list[tuple[models.Field, Any]]:
    """Every stored lead column but the id, with the value a new lead gets when not sent."""
    return [(f, f.get_default()) for f in Lead._meta.concrete_fields if not f.primary_key]


def _update(leads: list[SimpleNamespace], names: list[str]) -> None:
    """Write `names` of these (locked) leads in one set-based UPDATE. Each row gets its own
    values for every listed field: the rows were read under lock, so a field this record did
    not change is written back unchanged."""
    attnames = [Lead._meta.get_field(name).attname for name in names]
    update_rows(
        Lead,
        [lead.pk for lead in leads],
        {
            name: [getattr(lead, attname) for lead in leads]
            for name, attname in zip(names, attnames, strict=True)
        },
    )
