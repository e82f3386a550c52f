"""Lead routing (the workers issue builds round-robin assignment here)."""

from __future__ import annotations


def enqueue_assignment(*, lead_ids: list[int]) -> None:
    """Called (inside the transaction) when leads become MQL. Routing is not built yet:
    new MQLs stay unassigned until it is."""
    return
