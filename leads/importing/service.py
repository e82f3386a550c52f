"""The lead import service: `import_leads`, which the API, the CSV import page (and web-to-lead
forms next) all call. It owns its transaction, the retry after a lost key race, the scoring
and MQL of what it wrote, the audit, and the Idempotency-Key replay.

Safe against concurrent overlapping imports: the unique indexes decide; the loser's write
phase is rolled back to a savepoint and retried, and then sees the winner's rows as updates.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from crm.audit import record_many
from crm.models import User
from leads import services
from leads.importing.batch import MATCH_KEYS, Results, upsert, validate
from leads.models import ImportIdempotencyKey, Lead
from scoring.services import ThresholdCrossing, score_leads

MAX_BATCH = 1000

logger = logging.getLogger(__name__)


class BatchTooLarge(Exception):
    """More than MAX_BATCH records in one call."""


class IdempotencyMismatch(Exception):
    """The Idempotency-Key was used within 24 h for a different body."""


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's Idempotency-Key and the digest of the body it came with."""

    key: str
    body_sha256: str

    @classmethod
    def of(cls, key: str, body: Any) -> IdempotencyKey:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return cls(key=key, body_sha256=hashlib.sha256(canonical.encode()).hexdigest())


@dataclass
class ImportOutcome:
    """What an import did, record by record (in request order). `status_code` is what the
    API answers (200, or 207 when a record failed), stored with an Idempotency-Key so that a
    replay (`replayed`) answers the very same."""

    results: Results
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    lead_ids: list[int] = field(default_factory=list)
    replayed: bool = False
    replayed_status: int | None = None

    @property
    def status_code(self) -> int:
        if self.replayed_status is not None:
            return self.replayed_status
        return HTTPStatus.OK if self.failed == 0 else HTTPStatus.MULTI_STATUS

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "results": self.results,
        }

    @classmethod
    def replay_of(cls, stored: ImportIdempotencyKey) -> ImportOutcome:
        body = stored.response
        return cls(
            results=body["results"],
            created=body["created"],
            updated=body["updated"],
            unchanged=body["unchanged"],
            failed=body["failed"],
            replayed=True,
            replayed_status=stored.status_code,
        )


def import_leads(
    *,
    records: list[Any],
    match_on: str,
    by: User,
    dry_run: bool = False,
    idempotency: IdempotencyKey | None = None,
) -> ImportOutcome:
    """Upsert up to MAX_BATCH leads, one result per record in request order.

    Set-based: a fixed number of queries whatever the batch size (lookups by key, one INSERT,
    one UPDATE, one scoring pass, the MQL moves). Atomic per record: a failed record writes
    nothing. `dry_run` computes the same results without writing (the CSV preview).

    With an Idempotency-Key, the first response is stored in the import's transaction (both
    commit or neither) and the same key with the same body within 24 h replays it; another
    body raises IdempotencyMismatch. Two racing requests with one key: the unique index lets
    one row in, the other rolls back and replays the winner's answer.
    """
    if match_on not in MATCH_KEYS:
        raise ValidationError({"match_on": [f"Expected one of: {', '.join(MATCH_KEYS)}."]})
    if len(records) > MAX_BATCH:
        raise BatchTooLarge(f"At most {MAX_BATCH} leads per call; this one has {len(records)}.")
    if idempotency is not None and (stored := _stored(by=by, idempotency=idempotency)):
        return ImportOutcome.replay_of(stored)
    try:
        with transaction.atomic():
            outcome = _import(records, match_on=match_on, by=by, dry_run=dry_run)
            if idempotency is not None:
                _remember(by=by, idempotency=idempotency, outcome=outcome)
    except IntegrityError:
        stored = _stored(by=by, idempotency=idempotency) if idempotency else None
        if stored is None:
            raise
        return ImportOutcome.replay_of(stored)  # a concurrent twin committed first
    return outcome


def _import(records: list[Any], *, match_on: str, by: User, dry_run: bool) -> ImportOutcome:
    results: Results = [
        {"index": i, "status": "failed", "id": None, "errors": {}} for i in range(len(records))
    ]
    valid = validate(records, match_on=match_on, results=results)
    outcome = ImportOutcome(results=results)
    if valid:
        crossed = _upsert_with_retry(valid, results, match_on=match_on, by=by, dry_run=dry_run)
        updated = [r["id"] for r in results if r["status"] == "updated"]
        if not dry_run:
            # Created leads were scored as they were inserted (fit only: no events yet), the
            # updated ones are scored now; the crossers of each kind may become MQL.
            services.qualify_crossers(crossings=crossed)
            services.qualify_crossers(crossings=score_leads(lead_ids=updated).crossed)
            record_many(actor=by, action="lead.import.updated", model=Lead, ids=updated)
            outcome.lead_ids = [
                r["id"] for r in results if r["status"] in ("created", "updated") and r["id"]
            ]
    for result in results:
        status = result["status"]
        setattr(outcome, status, getattr(outcome, status) + 1)
        if status != "failed":
            result["errors"] = {}
    return outcome


def _upsert_with_retry(
    valid: dict[int, dict[str, Any]],
    results: Results,
    *,
    match_on: str,
    by: User,
    dry_run: bool,
    attempts: int = 4,
) -> list[ThresholdCrossing]:
    for attempt in range(attempts):
        try:
            # A savepoint: when a concurrent import inserted one of our keys first, the
            # unique index refuses our INSERT; roll back to here and redo the batch, which now
            # sees those rows as existing.
            with transaction.atomic():
                return upsert(valid, results, match_on=match_on, by=by, dry_run=dry_run)
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
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


def _stored(*, by: User, idempotency: IdempotencyKey) -> ImportIdempotencyKey | None:
    """The stored first response for this key, if it is less than 24 h old.

    Raises IdempotencyMismatch when the key came with another body.
    """
    stored = ImportIdempotencyKey.objects.filter(
        user=by,
        key=idempotency.key,
        created_at__gte=timezone.now() - ImportIdempotencyKey.WINDOW,
    ).first()
    if stored is not None and stored.body_sha256 != idempotency.body_sha256:
        raise IdempotencyMismatch(
            "This Idempotency-Key was already used with a different request body."
        )
    return stored


def _remember(*, by: User, idempotency: IdempotencyKey, outcome: ImportOutcome) -> None:
    """Store the first response for a key (inside the import's transaction). An expired row
    for the key is replaced; a concurrent twin hits the unique index and its transaction
    rolls back (import_leads then replays the winner's response)."""
    ImportIdempotencyKey.objects.filter(
        user=by, key=idempotency.key, created_at__lt=timezone.now() - ImportIdempotencyKey.WINDOW
    ).delete()
    ImportIdempotencyKey.objects.create(
        user=by,
        key=idempotency.key,
        body_sha256=idempotency.body_sha256,
        status_code=outcome.status_code,
        response=outcome.as_dict(),
        created_at=timezone.now(),
    )
