"""Scoring state changes (the scoring issue builds these)."""

from __future__ import annotations


def score_leads(*, lead_ids: list[int]) -> None:
    """(Re)compute the score of these leads, set-based, and move those that cross the MQL
    threshold to MQL through leads.services.transition_leads. Called by lead import and
    lead edits (inside their transaction). Not built yet: scores stay as they are."""
    return
