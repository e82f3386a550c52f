"""Creating leads, set-based: the one way a lead is born (the import, and the unknown leads
engagement events ask for).

Every new lead gets the creator's owner rule, is scored as it is inserted (fit rules: it has
no events yet) with its first history row, and gets one audit entry (`lead.<via>.created`)
and a `lead.created` webhook event (set-based, like the rest).
What its score means for the lifecycle (MQL) the caller decides, in the same transaction,
with leads.services.qualify_crossers: creation returns the crossings instead of acting on
them, so an import qualifies its created and updated leads in one move.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from crm.audit import record_many
from crm.bulk import array_type, pg_array
from crm.models import User
from crm.permissions import is_marketing_or_admin
from leads.models import Lead
from scoring.services import NewLeadScoring, ThresholdCrossing
from webhooks.events import record_events


@dataclass
class CreatedLeads:
    """What `create_leads` inserted: {e-mail: id} (rows skipped on a conflict are missing)
    and the new leads at or over the MQL threshold."""

    ids: dict[str, int] = field(default_factory=dict)
    crossed: list[ThresholdCrossing] = field(default_factory=list)


def default_owner_id(by: User) -> int | None:
    """Who owns a new lead that names no owner: nobody when marketing or an admin creates it
    (routing assigns it once it is MQL); otherwise its creator, so a rep's or manager's new
    lead stays inside their own scope."""
    return None if is_marketing_or_admin(by) else by.pk


def create_leads(
    *,
    rows: list[dict[str, Any]],
    by: User,
    via: str,
    scoring: NewLeadScoring | None = None,
    now: datetime | None = None,
    skip_conflicts: bool = False,
) -> CreatedLeads:
    """Insert new leads (must run in a transaction). Statements: the scoring's three reads
    unless `scoring` is handed in, one INSERT, one history INSERT, one audit INSERT, and the
    webhook events (webhooks.events: one read, plus three statements when someone listens).

    rows: field values by attribute name, each with an `email`; an `owner` key is an owner the
    caller already checked the creator may assign, and without one the owner rule above
    applies. Rows are inserted in the given order: callers sort them by key, so concurrent
    batches take the unique-index locks in one order. Without `skip_conflicts` a key that
    exists by now fails the statement (IntegrityError: the import's retry); with it, that row
    is left out (ON CONFLICT DO NOTHING) and missing from the result.
    """
    now = now or timezone.now()
    scoring = scoring or NewLeadScoring(now=now)
    for row in rows:
        row["owner_id"] = row.pop("owner") if "owner" in row else default_owner_id(by)
    scoring.fill(rows)  # inserted already scored: no UPDATE afterwards
    ids = _insert(rows, now=now, skip_conflicts=skip_conflicts)
    inserted = [(ids[row["email"]], row) for row in rows if row["email"] in ids]
    crossed = scoring.record(inserted)
    record_many(actor=by, action=f"lead.{via}.created", model=Lead, ids=[pk for pk, _ in inserted])
    record_events(event="lead.created", model=Lead, ids=[pk for pk, _ in inserted], now=now)
    return CreatedLeads(ids=ids, crossed=crossed)


def _insert(rows: list[dict[str, Any]], *, now: datetime, skip_conflicts: bool) -> dict[str, int]:
    """INSERT new leads (each a dict of values; the rest take the model defaults) and return
    {e-mail: id} of the rows inserted.

    On PostgreSQL one `INSERT … SELECT FROM unnest(arrays)` statement: one array literal per
    column (crm.bulk.pg_array) instead of 50 parameters per row, which keeps a 1,000-lead
    batch cheap to send and to plan. Elsewhere Django's bulk_create.
    """
    if not rows:
        return {}
    if connection.vendor != "postgresql":
        return _bulk_create(rows, now=now, skip_conflicts=skip_conflicts)
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
    conflict = "ON CONFLICT DO NOTHING " if skip_conflicts else ""
    sql = (
        # the table and column names come from model metadata; every value is a bound array
        f"INSERT INTO {connection.ops.quote_name(Lead._meta.db_table)} ({', '.join(columns)}) "  # nosec B608
        f"SELECT * FROM unnest({', '.join(casts)}) {conflict}RETURNING id, email"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return {email: pk for pk, email in cursor.fetchall()}


def _bulk_create(
    rows: list[dict[str, Any]], *, now: datetime, skip_conflicts: bool
) -> dict[str, int]:
    """Django's bulk_create (SQLite). Ignored conflicts would return no ids, so with
    `skip_conflicts` the rows whose key is taken are left out first (one read), and a
    writer that slipped in between is met by a second try (a savepoint each)."""
    for attempt in range(2):
        todo = _untaken(rows) if skip_conflicts else rows
        leads = [Lead(created_at=now, updated_at=now, **values) for values in todo]
        try:
            with transaction.atomic():
                Lead.objects.bulk_create(leads)
        except IntegrityError:
            if not skip_conflicts or attempt:
                raise
            continue
        return {lead.email: lead.pk for lead in leads}
    raise AssertionError("unreachable: the second attempt returns or raises")  # pragma: no cover


def _untaken(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose e-mail and external id no lead holds yet."""
    emails = [row["email"] for row in rows]
    external_ids = [row["external_id"] for row in rows if row.get("external_id")]
    taken = Lead.objects.filter(Q(email__in=emails) | Q(external_id__in=external_ids))
    pairs = list(taken.values_list("email", "external_id"))
    taken_emails = {email for email, _ in pairs}
    taken_ids = {external_id for _, external_id in pairs if external_id}
    return [
        row
        for row in rows
        if row["email"] not in taken_emails and row.get("external_id") not in taken_ids
    ]


@lru_cache(maxsize=1)
def _insert_defaults() -> list[tuple[models.Field, Any]]:
    """Every stored lead column but the id, with the value a new lead gets when not sent."""
    return [
        (f, f.get_default())
        for f in Lead._meta.concrete_fields
        if isinstance(f, models.Field) and not f.primary_key
    ]
