"""The audit trail: `record` one change, `record_many` a bulk operation, read it back.

Services call these inside their own transaction, so an entry exists exactly when the change
committed. The request id and client IP come from `AuditContextMiddleware` (a context
variable), so services never see the request; tasks and commands simply leave them empty.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from crm.bulk import insert_rows
from crm.models import AuditLog, User

BATCH_SIZE = 1000


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip_address: str | None = None


_NO_REQUEST = RequestContext()
_context: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "plumb_audit_context", default=None
)


@contextmanager
def request_context(*, request_id: str = "", ip_address: str | None = None) -> Iterator[None]:
    """Attach a request id and client IP to every entry recorded inside the block."""
    token = _context.set(RequestContext(request_id=request_id[:64], ip_address=ip_address))
    try:
        yield
    finally:
        _context.reset(token)


def current_request_id() -> str:
    """The request id of the request being served ("" outside one); log lines carry it."""
    ctx = _context.get()
    return ctx.request_id if ctx else ""


def new_request_id() -> str:
    return uuid.uuid4().hex


def target_type_of(model: type[models.Model] | models.Model) -> str:
    """ "leads.lead" for a Lead (class or instance)."""
    return model._meta.label_lower


def _jsonable(value: Any) -> Any:
    """JSON-safe form of a field value: dates as ISO text, decimals as strings, rows as pks."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields whose value changed."""
    return {
        field: [_jsonable(before.get(field)), _jsonable(value)]
        for field, value in after.items()
        if _jsonable(before.get(field)) != _jsonable(value)
    }


def _entry(
    *,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: object,
    target_label: str,
    changes: Mapping[str, Any] | None,
    at: datetime,
    bulk_count: int,
) -> dict[str, Any]:
    """The column values of one AuditLog row."""
    ctx = _context.get() or _NO_REQUEST
    actor_id = actor.pk if actor is not None and actor.pk is not None else None
    return {
        "actor_id": actor_id,
        "action": action[:64],
        "target_type": target_type,
        "target_id": str(target_id)[:64],
        "target_label": str(target_label)[:200],
        "changes": _jsonable(dict(changes or {})),
        "at": at,
        "request_id": ctx.request_id,
        "ip_address": ctx.ip_address,
        "bulk_count": bulk_count,
    }


def _insert(rows: list[dict[str, Any]]) -> int:
    """INSERT audit rows set-based (crm.bulk): a 1,000-lead import's entries in one statement,
    without building 1,000 model instances."""
    for start in range(0, len(rows), BATCH_SIZE):
        part = rows[start : start + BATCH_SIZE]
        insert_rows(AuditLog, {name: [row[name] for row in part] for name in part[0]})
    return len(rows)


def record(
    *,
    actor: User | None,
    action: str,
    target: models.Model,
    changes: Mapping[str, Any] | None = None,
    label: str | None = None,
) -> AuditLog:
    """Write one audit entry for one record (one INSERT, in the caller's transaction)."""
    return AuditLog.objects.create(
        **_entry(
            actor=actor,
            action=action,
            target_type=target_type_of(target),
            target_id=target.pk,
            target_label=label if label is not None else str(target),
            changes=changes,
            at=timezone.now(),
            bulk_count=1,
        )
    )


def record_many(
    *,
    actor: User | None,
    action: str,
    model: type[models.Model],
    ids: Iterable[object],
    changes: Mapping[str, Any] | None = None,
    labels: Mapping[Any, str] | None = None,
    changes_for: Mapping[Any, Mapping[str, Any]] | None = None,
) -> int:
    """Audit a bulk operation: one row per record, inserted in batches (no per-row queries).

    Every row carries `changes` (or that record's own entry in `changes_for`) and
    `bulk_count` = how many records the operation touched, so a record's history shows
    "changed with N others". Returns the row count.
    """
    id_list = list(dict.fromkeys(ids))
    if not id_list:
        return 0
    now = timezone.now()
    target_type = target_type_of(model)
    labels = labels or {}
    rows = [
        _entry(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=pk,
            target_label=labels.get(pk, ""),
            changes=(changes_for or {}).get(pk, changes),
            at=now,
            bulk_count=len(id_list),
        )
        for pk in id_list
    ]
    return _insert(rows)


@dataclass(frozen=True)
class Entry:
    """One row of a bulk operation audited with `record_entries`."""

    model: type[models.Model]
    target_id: object
    changes: Mapping[str, Any]
    label: str = ""


def record_entries(*, actor: User | None, action: str, entries: Iterable[Entry]) -> int:
    """Audit a bulk operation that is not one row per record of one model: records of several
    kinds (people and teams in a quota import) or several entries for one record (one person's
    quotas for two quarters). One row per entry, inserted in batches (no per-row queries);
    `bulk_count` = how many entries the operation wrote. Returns that count."""
    items = list(entries)
    if not items:
        return 0
    now = timezone.now()
    rows = [
        _entry(
            actor=actor,
            action=action,
            target_type=target_type_of(item.model),
            target_id=item.target_id,
            target_label=item.label,
            changes=item.changes,
            at=now,
            bulk_count=len(items),
        )
        for item in items
    ]
    return _insert(rows)


# --- reads ------------------------------------------------------------------------------------


def history_for(obj: models.Model, *, limit: int = 100) -> QuerySet[AuditLog]:
    """A record's audit entries, newest first (one query with the actor joined).

    The caller has already checked that the user may see `obj` (e.g. via `visible_to`).
    """
    return (
        AuditLog.objects.filter(target_type=target_type_of(obj), target_id=str(obj.pk))
        .select_related("actor")
        .order_by("-at", "-pk")[:limit]
    )


@dataclass(frozen=True)
class AuditFilters:
    actor_id: int | None = None
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    since: date | None = None
    until: date | None = None
    q: str = ""


def audit_entries(*, user: User, filters: AuditFilters) -> QuerySet[AuditLog]:
    """The admin audit page and its export: every entry matching the filters, newest first.

    Admins only (others get an empty queryset, the views 403 before that).
    """
    if not user.is_admin:
        return AuditLog.objects.none()
    qs = AuditLog.objects.select_related("actor").order_by("-at", "-pk")
    if filters.actor_id:
        qs = qs.filter(actor_id=filters.actor_id)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.target_type:
        qs = qs.filter(target_type=filters.target_type)
    if filters.target_id:
        qs = qs.filter(target_id=filters.target_id)
    if filters.since:
        qs = qs.filter(at__date__gte=filters.since)
    if filters.until:
        qs = qs.filter(at__date__lte=filters.until)
    if filters.q:
        qs = qs.filter(target_label__icontains=filters.q)
    return qs


def known_actions() -> list[str]:
    """Distinct actions recorded so far (for the filter's choices): one query."""
    return list(AuditLog.objects.order_by("action").values_list("action", flat=True).distinct())
