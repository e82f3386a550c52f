"""One import batch, set-based: validate every record in one pass, then upsert the valid ones.

Rules: each record is matched on `match_on` (email or external_id) and created or updated
with only the fields it sends; a failed record writes nothing and never blocks the others;
the first of two records with the same key wins. An upsert attempt reads and locks the
matching leads, decides record by record (no queries), then writes: new leads through
leads.services.create_leads (one INSERT), changed ones in one UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from crm.bulk import update_rows
from crm.models import User, users_visible_to
from crm.permissions import is_marketing_or_admin
from leads import services
from leads.importing.fields import (
    MAX_ATTRIBUTES_BYTES,
    PARSERS,
    clean_lead_fields,
    json_size,
    merge_attributes,
)
from leads.models import Lead
from scoring.services import ThresholdCrossing
from webhooks.events import record_events

MATCH_KEYS = ("email", "external_id")
# What an upsert reads of each matched lead: every column a record may write.
MATCHED_COLUMNS = ("pk", *(parser.column for parser in PARSERS.values()))

Results = list[dict[str, Any]]


def validate(records: list[Any], *, match_on: str, results: Results) -> dict[int, dict[str, Any]]:
    """{index: clean values} of the records that pass the field checks and carry the match
    key, no key of theirs repeating an earlier record's; the others get their errors in
    `results`. No queries."""
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
    return valid


@dataclass
class Matches:
    """The leads a batch's keys already name, read (and locked) in one statement."""

    by_key: dict[Any, SimpleNamespace]  # match key → that lead's row
    holder_of_other: dict[Any, int]  # value of the other unique key → the lead holding it
    hidden: set[int]  # matched leads the importer may not see: refused, never updated


@dataclass
class Plan:
    """What an upsert will write: new leads (request index, values) and changed ones."""

    to_create: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    to_update: list[SimpleNamespace] = field(default_factory=list)
    update_fields: set[str] = field(default_factory=set)


def upsert(
    valid: dict[int, dict[str, Any]],
    results: Results,
    *,
    match_on: str,
    by: User,
    dry_run: bool,
) -> list[ThresholdCrossing]:
    """One attempt at writing the valid records (the caller runs it in a savepoint and
    retries it after losing a key race). Fills `results`; returns the created leads at or
    over the MQL threshold. A dry run decides the same and writes nothing."""
    matches = _read_matches(valid, match_on=match_on, by=by, lock=not dry_run)
    now = timezone.now()
    plan = _plan(valid, results, matches=matches, match_on=match_on, by=by, now=now)
    if dry_run:
        for index, _values in plan.to_create:
            results[index].update(status="created", id=None)
        return []
    crossed = _create(plan.to_create, results, match_on=match_on, by=by, now=now)
    if plan.to_update:
        _update(plan.to_update, [*sorted(plan.update_fields), "updated_at"])
        previous = {lead.pk: lead.previous for lead in plan.to_update}
        record_events(event="lead.updated", model=Lead, ids=list(previous), previous=previous)
    return crossed


def _other_key(match_on: str) -> str:
    return "external_id" if match_on == "email" else "email"


def _read_matches(
    valid: dict[int, dict[str, Any]], *, match_on: str, by: User, lock: bool
) -> Matches:
    """One statement reads the leads matching either unique key, so both lookups see the same
    snapshot (two statements could straddle a concurrent import's commit). The rows are
    locked in pk order: concurrent batches touching the same leads serialise instead of
    overwriting each other's fields, and cannot deadlock on these rows. Plain rows, not
    model instances: building 1,000 Lead objects costs more than the query."""
    other = _other_key(match_on)
    keys = [clean[match_on] for clean in valid.values()]
    other_values = [c[other] for c in valid.values() if c.get(other) is not None]
    wanted = Q(**{f"{match_on}__any": keys})
    if other_values:
        wanted |= Q(**{f"{other}__any": other_values})
    matched = Lead.objects.filter(wanted).order_by("pk")
    if lock:  # a preview reads without locking
        matched = matched.select_for_update()
    rows = list(matched.values(*MATCHED_COLUMNS))
    key_set = set(keys)
    by_key = {row[match_on]: SimpleNamespace(**row) for row in rows if row[match_on] in key_set}
    hidden: set[int] = set()
    if by_key and not is_marketing_or_admin(by):
        ids = {lead.pk for lead in by_key.values()}
        visible = Lead.objects.visible_to(by).filter(pk__in=ids).values_list("pk", flat=True)
        hidden = ids - set(visible)
    return Matches(
        by_key=by_key,
        holder_of_other={row[other]: row["pk"] for row in rows if row[other] is not None},
        hidden=hidden,
    )


def _assignable(valid: dict[int, dict[str, Any]], *, by: User) -> set[int]:
    """The owners the records name that the importer could assign by hand (marketing and
    admins: anyone active). One query, none when no record names an owner."""
    owner_ids = {c["owner"] for c in valid.values() if c.get("owner") is not None}
    if not owner_ids:
        return set()
    return set(users_visible_to(by).filter(pk__in=owner_ids).values_list("pk", flat=True))


def _plan(
    valid: dict[int, dict[str, Any]],
    results: Results,
    *,
    matches: Matches,
    match_on: str,
    by: User,
    now: datetime,
) -> Plan:
    """Decide each record against the matched rows (no queries): refused, new, changed or
    unchanged. Failed records get their errors in `results` and write nothing."""
    plan = Plan()
    owners = _assignable(valid, by=by)
    for index, clean in valid.items():
        result = results[index]
        lead = matches.by_key.get(clean[match_on])
        errors = _conflicts(clean, lead, matches=matches, match_on=match_on, owners=owners)
        if errors:
            result.update(status="failed", id=None, errors=errors)
        elif lead is None:
            plan.to_create.append((index, _new_lead_values(clean)))
        else:
            try:
                changed = _apply(lead, clean)
            except ValidationError as error:
                result.update(status="failed", id=None, errors=error.message_dict)
                continue
            result.update(id=lead.pk, status="updated" if changed else "unchanged")
            if changed:
                lead.updated_at, lead.previous = now, changed
                plan.update_fields.update(changed)
                plan.to_update.append(lead)
    return plan


def _conflicts(
    clean: dict[str, Any],
    lead: SimpleNamespace | None,
    *,
    matches: Matches,
    match_on: str,
    owners: set[int],
) -> dict[str, list[str]]:
    """Why this record cannot be written as it stands ({} = it can)."""
    if lead is not None and lead.pk in matches.hidden:
        return {match_on: ["A lead with this key exists and is not yours to update."]}
    errors: dict[str, list[str]] = {}
    if clean.get("owner") is not None and clean["owner"] not in owners:
        errors["owner"] = ["No active user with this id that you may assign."]
    other = _other_key(match_on)
    holder = matches.holder_of_other.get(clean[other]) if clean.get(other) is not None else None
    if holder is not None and (lead is None or holder != lead.pk):
        errors[other] = [f"Already used by another lead (id {holder})."]
    if lead is None and "email" not in clean:
        errors["email"] = ["Required to create a lead."]
    return errors


def _new_lead_values(clean: dict[str, Any]) -> dict[str, Any]:
    """A new lead's values: what the record sent, imported as `import` unless it says."""
    values = {"source": Lead.Source.IMPORT, **clean}
    if "attributes" in values:
        values["attributes"] = merge_attributes({}, values["attributes"])
    return values


def _apply(lead: SimpleNamespace, values: dict[str, Any]) -> dict[str, Any]:
    """Set the sent values on `lead`; return {name: old value} of the fields that changed."""
    changed: dict[str, Any] = {}
    for name, value in values.items():
        if name == "owner":
            if lead.owner_id != value:
                changed["owner"], lead.owner_id = lead.owner_id, value
            continue
        if name == "attributes":
            value = merge_attributes(lead.attributes or {}, value)
            if json_size(value) > MAX_ATTRIBUTES_BYTES:
                raise ValidationError({"attributes": ["At most 16 KB of custom attributes."]})
        if getattr(lead, name) != value:
            changed[name] = getattr(lead, name)
            setattr(lead, name, value)
    return changed


def _create(
    to_create: list[tuple[int, dict[str, Any]]],
    results: Results,
    *,
    match_on: str,
    by: User,
    now: datetime,
) -> list[ThresholdCrossing]:
    """Insert the new leads (the creation service: owner rule, scored, audited as
    lead.import.created) and record their ids; returns those at or over the threshold."""
    if not to_create:
        return []
    # Insert in key order so two batches inserting overlapping keys take the unique-index
    # locks in the same order (the second waits, then fails over to the caller's retry).
    to_create.sort(key=lambda pair: pair[1][match_on])
    created = services.create_leads(
        rows=[values for _, values in to_create], by=by, via="import", now=now
    )
    for index, values in to_create:
        results[index].update(status="created", id=created.ids[values["email"]])
    return created.crossed


def _update(leads: list[SimpleNamespace], names: list[str]) -> None:
    """Write `names` of these (locked) leads in one set-based UPDATE. Each row gets its own
    values for every listed field: the rows were read under lock, so a field this record did
    not change is written back unchanged."""
    attnames = [PARSERS[name].column if name in PARSERS else name for name in names]
    update_rows(
        Lead,
        [lead.pk for lead in leads],
        {
            name: [getattr(lead, attname) for lead in leads]
            for name, attname in zip(names, attnames, strict=True)
        },
    )
