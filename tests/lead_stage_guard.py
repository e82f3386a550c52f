"""The rule "only leads writes a lead's lifecycle stage", checked on every statement the suite runs.

A statement that inserts leads or sets their `stage` must come from the leads app: the innermost
frame of our own code (ignoring the core's generic SQL helpers in crm/bulk.py)
must live in leads/ (or in tests/, where factories build fixtures directly).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = (ROOT / "leads", ROOT / "tests")
PLUMBING = (ROOT / "crm" / "bulk.py", Path(__file__).resolve())
WRITES_STAGE = re.compile(
    r'^\s*(INSERT\s+INTO\s+"leads_lead"|UPDATE\s+"leads_lead"\s+SET\s+.*"stage"\s*=)',
    re.IGNORECASE | re.DOTALL,
)


class LeadStageWrittenOutsideLeads(AssertionError):
    pass


def _origin() -> Path | None:
    """The innermost frame of project code (not Django, not a library, not SQL plumbing)."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(ROOT) and ".venv" not in path.parts and path not in PLUMBING:
            return path
        frame = frame.f_back
    return None


def guard(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    if WRITES_STAGE.match(sql):
        origin = _origin()
        if origin is not None and not any(origin.is_relative_to(a) for a in ALLOWED):
            raise LeadStageWrittenOutsideLeads(
                f"{origin.relative_to(ROOT)} writes leads_lead's stage (or inserts leads): "
                "only the leads app may (leads.services)."
            )
    return execute(sql, params, many, context)
