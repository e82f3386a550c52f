"""Log plumbing: every line carries the request id (or the Celery task id); optional JSON.

`AuditContextMiddleware` (crm.middleware) sets the request id for the whole request and sends
it back as `X-Request-ID`, so a user's report, an access-log line, an error and an audit entry
can be matched.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime


def _current_request_id() -> str:
    # crm.audit imports models, which cannot load while logging is configured; until it is
    # imported nothing can have set a request id anyway.
    audit = sys.modules.get("crm.audit")
    request_id = audit.current_request_id() if audit is not None else ""
    if request_id:
        return request_id
    celery_state = sys.modules.get("celery._state")
    task = celery_state.get_current_task() if celery_state is not None else None
    task_id = getattr(getattr(task, "request", None), "id", None)
    return str(task_id) if task_id else "-"


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id`: the request's id, the running task's id, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _record_request_id(record)
        return True


def _record_request_id(record: logging.LogRecord) -> str:
    # django.request logs a 4xx after the middleware (and so the request's context) returned,
    # but passes the request along.
    from_request = getattr(getattr(record, "request", None), "request_id", None)
    return str(from_request or "") or _gunicorn_request_id(record) or _current_request_id()


def _gunicorn_request_id(record: logging.LogRecord) -> str:
    """Gunicorn's access log logs after the response, outside the request's context: take the
    id from the response's X-Request-ID header among its atoms."""
    if record.name != "gunicorn.access" or not isinstance(record.args, Mapping):
        return ""
    try:
        value = record.args["{x-request-id}o"]
    except (KeyError, TypeError):
        return ""
    return "" if value in (None, "-") else str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json): time, level, logger, request_id, message,
    and the traceback as `exc_info` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or _record_request_id(record),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)
