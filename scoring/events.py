"""Engagement events in: parse, deduplicate on the sender's id, resolve leads, insert, and
rescore the leads in the same transaction. Unknown leads an event asks for are created by the
lead lifecycle, and the leads a batch scores over the MQL threshold are handed to it, both
through scoring.handoff (scoring never creates a lead or moves a stage)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.bulk import pg_array
from crm.models import User
from leads.models import Lead
from scoring import handoff
from scoring.models import EngagementEvent, ScoreHistory
from scoring.services.rules import EVENT_TYPE_RE
from scoring.services.scores import NewLeadScoring, score_queryset

MAX_EVENTS_PER_REQUEST = 1000


@dataclass
class EventOutcome:
    index: int
    status: str = "failed"
    id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "status": self.status, "id": self.id, "errors": self.errors}


@dataclass
class _Parsed:
    outcome: EventOutcome
    external_id: str = ""
    email: str | None = None
    lead_external_id: str | None = None
    type: str = ""
    occurred_at: datetime | None = None
    url: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    create_lead: bool = False
    lead_id: int | None = None


class TooManyEvents(Exception):
    """More than MAX_EVENTS_PER_REQUEST events in one request (the API answers 413)."""


def _parse_event(index: int, item: Any, now: datetime) -> _Parsed:
    parsed = _Parsed(outcome=EventOutcome(index=index))
    errors = parsed.outcome.errors
    if not isinstance(item, dict):
        errors["non_field_errors"] = ["Each event must be a JSON object."]
        return parsed
    external_id = item.get("id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 100:
        errors["id"] = ["Give the event's id (a string of at most 100 characters)."]
    else:
        parsed.external_id = external_id.strip()
    lead = item.get("lead")
    if not isinstance(lead, dict) or not (lead.get("email") or lead.get("external_id")):
        errors["lead"] = ['Identify the lead: {"email": …} or {"external_id": …}.']
    else:
        if isinstance(lead.get("email"), str) and lead["email"].strip():
            parsed.email = lead["email"].strip().lower()
        elif lead.get("email") is not None:
            errors["lead"] = ["lead.email must be a string."]
        if isinstance(lead.get("external_id"), str | int) and str(lead["external_id"]).strip():
            parsed.lead_external_id = str(lead["external_id"]).strip()
        elif lead.get("external_id") is not None:
            errors["lead"] = ["lead.external_id must be a string."]
    event_type = item.get("type")
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.match(event_type.strip().lower()):
        errors["type"] = [
            "Give the event type: lower-case letters, digits, _ . : - (e.g. email_opened)."
        ]
    else:
        parsed.type = event_type.strip().lower()
    occurred = item.get("occurred_at")
    moment = parse_datetime(occurred) if isinstance(occurred, str) else None
    if moment is None:
        errors["occurred_at"] = ["Give occurred_at as an ISO 8601 date-time."]
    else:
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=UTC)
        if moment > now + timedelta(minutes=5):
            errors["occurred_at"] = ["occurred_at is in the future."]
        parsed.occurred_at = moment
    properties = item.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        errors["properties"] = ["properties must be an object."]
    else:
        parsed.properties = properties
        url = properties.get("url", "")
        parsed.url = url[:500] if isinstance(url, str) else ""
    create_lead = item.get("create_lead", False)
    if not isinstance(create_lead, bool):
        errors["create_lead"] = ["create_lead must be true or false."]
    parsed.create_lead = create_lead is True
    if parsed.create_lead and parsed.email:
        try:
            validate_email(parsed.email)
        except ValidationError:
            errors["lead"] = ["lead.email is not a valid e-mail address."]
    return parsed


@dataclass
class IngestResult:
    outcomes: list[EventOutcome]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.count("created"),
            "duplicate": self.count("duplicate"),
            "failed": self.count("failed"),
            "results": [o.as_dict() for o in self.outcomes],
        }


def ingest_events(*, events: list[Any], user: User) -> IngestResult:
    """Record engagement events and rescore their leads before answering.

    Concurrency: one transaction inserts the events, then locks the leads (pk order, SKIP
    LOCKED) and scores them. Leads another request holds at that moment are left out, and
    scored once the events are committed, in a second short transaction that waits for their
    locks. Whoever scores a lead last therefore runs its count after both requests' events
    were committed and sees them all; and overlapping batches (two random batches of 1,000
    share a few leads) no longer queue behind each other's whole scoring, only for those few.

    Idempotent on the sender's id: a known id (or a repeat within the batch) is a
    `duplicate` and changes nothing; the unique constraint settles concurrent replays
    (INSERT … ON CONFLICT DO NOTHING). An unknown lead fails that event only, unless it says
    "create_lead": true (then leads creates a `new` lead from its e-mail). Leads scored over
    the MQL threshold are handed to the lead lifecycle in the transaction that scored them.
    Set-based: a fixed number of queries per request whatever the batch size."""
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise TooManyEvents
    now = timezone.now()
    with transaction.atomic():
        parsed, held = _ingest(events=events, user=user, now=now)
    if held:
        with transaction.atomic():
            scored = score_queryset(
                Lead.objects.filter(pk__any=held),
                reason=ScoreHistory.Reason.EVENT,
                now=now,
                events_only=True,
            )
            handoff.lifecycle().qualify(crossings=scored.crossed)
    return IngestResult(outcomes=[p.outcome for p in parsed])


def _ingest(*, events: list[Any], user: User, now: datetime) -> tuple[list[_Parsed], list[int]]:
    """Insert the events and score their leads but those another transaction holds; returns
    the parsed events (with their outcomes) and the pks of the held leads."""
    parsed = [_parse_event(index, item, now) for index, item in enumerate(events)]
    valid = [p for p in parsed if not p.outcome.errors]

    # Repeats within the batch are duplicates of their first occurrence; ids already stored
    # are settled by the insert itself (ON CONFLICT DO NOTHING), so a fresh batch costs no
    # lookup and only the ids that did not insert are fetched, for their response ids.
    first_seen: dict[str, _Parsed] = {}
    fresh: list[_Parsed] = []
    for p in valid:
        if p.external_id in first_seen:
            p.outcome.status = "duplicate"
        else:
            first_seen[p.external_id] = p
            fresh.append(p)

    scoring = _resolve_leads(fresh, user=user, now=now)
    to_insert = [p for p in fresh if p.lead_id is not None]
    inserted = _insert_events(to_insert, now=now)
    for p in to_insert:
        if p.external_id in inserted:
            p.outcome.status, p.outcome.id = "created", inserted[p.external_id]
    # Not inserted: stored before (a replay), or by a concurrent request a moment ago. A stored
    # id is a duplicate even when its lead can no longer be found.
    unsettled = {p.external_id for p in fresh if p.external_id not in inserted}
    known = (
        dict(
            EngagementEvent.objects.filter(external_id__any=sorted(unsettled)).values_list(
                "external_id", "pk"
            )
        )
        if unsettled
        else {}
    )
    for p in valid:
        first = first_seen[p.external_id]
        if p.external_id in known:
            p.outcome.status, p.outcome.id, p.outcome.errors = "duplicate", known[p.external_id], {}
        elif p is not first:
            p.outcome.id = first.outcome.id
    lead_ids = sorted(
        {p.lead_id for p in to_insert if p.external_id in inserted and p.lead_id is not None}
    )
    if not lead_ids:
        return parsed, []
    scored = score_queryset(
        Lead.objects.filter(pk__any=lead_ids),
        reason=ScoreHistory.Reason.EVENT,
        now=now,
        # the rules and settings the new leads were scored with, when there were any
        rule_set=scoring.rule_set if scoring else None,
        org=scoring.org if scoring else None,
        events_only=True,
        skip_locked=True,
    )
    handoff.lifecycle().qualify(crossings=scored.crossed)
    return parsed, sorted(set(lead_ids) - set(scored.scored))


def _resolve_leads(items: list[_Parsed], *, user: User, now: datetime) -> NewLeadScoring | None:
    """Find each event's lead (by e-mail or external id); unknown e-mails that asked for it
    become `new` leads, created by the lead lifecycle (the import's creation service: owner
    rule, scored, audited). No lock here: scoring locks the leads after the insert. Returns
    the scoring the new leads were created with (None when none were)."""
    emails = {p.email for p in items if p.email}
    external_ids = {p.lead_external_id for p in items if p.lead_external_id and not p.email}
    creatable = {p.email for p in items if p.create_lead and p.email}
    by_email, by_external = _known_leads(user=user, emails=emails, external_ids=external_ids)
    missing = sorted(creatable - set(by_email))
    scoring = None
    if missing:
        first = {p.email: p for p in reversed(items) if p.create_lead and p.email in missing}
        unknown = []
        for email in missing:
            external_id = first[email].lead_external_id
            taken = external_id in by_external  # that id is another lead's: create without it
            unknown.append(handoff.UnknownLead(email, None if taken else external_id))
        scoring = NewLeadScoring(now=now)
        created = handoff.lifecycle().create_leads(leads=unknown, by=user, scoring=scoring)
        by_email.update(created)
        if len(created) < len(missing):  # a concurrent request created some of them first
            by_email, by_external = _known_leads(
                user=user, emails=emails, external_ids=external_ids
            )
    for p in items:
        lead_id = by_email.get(p.email) if p.email else by_external.get(p.lead_external_id or "")
        if lead_id is None:
            who = f"e-mail {p.email}" if p.email else f"external_id {p.lead_external_id}"
            hint = "" if p.create_lead else ' Send "create_lead": true to create it.'
            p.outcome.errors["lead"] = [f"No lead with {who}.{hint}"]
        p.lead_id = lead_id
    return scoring


def _known_leads(
    *, user: User, emails: set[str], external_ids: set[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """({e-mail: id}, {external id: id}) of the leads `user` sees with these keys (one query)."""
    if not emails and not external_ids:
        return {}, {}
    rows = (
        Lead.objects.visible_to(user)
        .filter(Q(email__any=sorted(emails)) | Q(external_id__any=sorted(external_ids)))
        .order_by()
        .values_list("pk", "email", "external_id")
    )
    by_email, by_external = {}, {}
    for pk, email, external_id in rows:
        by_email[email] = pk
        if external_id:
            by_external[external_id] = pk
    return by_email, by_external


def _insert_events(items: list[_Parsed], *, now: datetime) -> dict[str, int]:
    """INSERT … ON CONFLICT (external_id) DO NOTHING RETURNING: {external_id: pk} of the rows
    this call actually inserted (PostgreSQL, and SQLite ≥ 3.35)."""
    if not items:
        return {}
    table = connection.ops.quote_name(EngagementEvent._meta.db_table)
    columns = "external_id, lead_id, type, occurred_at, url, properties, received_at"
    conflict = "ON CONFLICT (external_id) DO NOTHING RETURNING id, external_id"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array literal per column (see crm.bulk.pg_array): seven parameters a batch.
            cursor.execute(
                # the table name comes from model metadata; every value is a bound parameter
                f"INSERT INTO {table} ({columns}) SELECT *, %s::timestamptz FROM unnest("  # nosec B608
                "%s::varchar[], %s::bigint[], %s::varchar[], %s::timestamptz[], %s::varchar[], "
                f"%s::jsonb[]) {conflict}",
                [
                    now,
                    pg_array([p.external_id for p in items]),
                    pg_array([p.lead_id for p in items]),
                    pg_array([p.type for p in items]),
                    pg_array([p.occurred_at for p in items]),
                    pg_array([p.url for p in items]),
                    pg_array([json.dumps(p.properties) for p in items]),
                ],
            )
            return {external_id: pk for pk, external_id in cursor.fetchall()}
        ops = connection.ops
        received = ops.adapt_datetimefield_value(now)
        inserted: dict[str, int] = {}
        for start in range(0, len(items), 400):  # SQLite's bound-parameter limit
            part = items[start : start + 400]
            params: list[Any] = []
            for p in part:
                params += [
                    p.external_id,
                    p.lead_id,
                    p.type,
                    ops.adapt_datetimefield_value(p.occurred_at),
                    p.url,
                    json.dumps(p.properties),
                    received,
                ]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(part))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values} {conflict}",  # nosec B608
                params,
            )
            inserted.update({external_id: pk for pk, external_id in cursor.fetchall()})
    return inserted
