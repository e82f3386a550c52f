"""Demo data for scoring (called by `manage.py seed_demo` after the org exists; idempotent)."""

from __future__ import annotations

from crm.seed import DemoOrg


def run(org: DemoOrg) -> dict[str, int]:
    """Create this app's demo rows unless they exist; return counts to print."""
    return {}
