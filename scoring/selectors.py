"""Scoring reads shared by pages and API (the scoring issue builds these)."""

from __future__ import annotations

from typing import Any

from leads.models import Lead


def lead_score_panel(*, lead: Lead) -> dict[str, Any]:
    """What the lead page's score panel (templates/scoring/_lead_score.html) needs: the
    breakdown, history for the sparkline. Not built yet: the panel shows the stored score."""
    return {"score": lead.score, "breakdown": lead.score_breakdown, "history": []}
