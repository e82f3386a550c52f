"""What scoring hands to leads, the app that owns the lead lifecycle, and how it gets there.

Scoring computes and stores scores; it never moves a lead's stage and never creates a lead
(only leads.services does, DESIGN.md). Leads sits above scoring, so scoring cannot import
leads.services; instead leads registers its two functions here in LeadsConfig.ready():

- `qualify(crossings=…)`: decides which of the leads a pass scored at or over the MQL threshold
  become MQL (leads.services.qualify_crossers; the one rule: MQL once, never past `new`);
- `create_leads(leads=…, by=…, scoring=…)`: creates the unknown leads an event batch asked for,
  through the creation service of the import (leads.services.create_event_leads).

Who calls them: the passes scoring starts itself and whose transaction it owns (rescore jobs,
the nightly decay, engagement events), inside that transaction, so a score and the MQL it
causes commit together. Passes leads asks for (the import, lead edits) return their crossings
to leads instead (`ScoringPass.crossed`, `NewLeadScoring.record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from crm.models import User
from scoring.services.scores import NewLeadScoring, ThresholdCrossing


@dataclass(frozen=True)
class UnknownLead:
    """A lead an event named by e-mail, found nowhere, that the event asked to create."""

    email: str
    external_id: str | None = None


class Qualify(Protocol):
    def __call__(self, *, crossings: Sequence[ThresholdCrossing]) -> list[int]:
        """Move the crossings that qualify to MQL; returns the ids that moved."""
        ...


class CreateLeads(Protocol):
    def __call__(
        self, *, leads: Sequence[UnknownLead], by: User, scoring: NewLeadScoring
    ) -> dict[str, int]:
        """Create these leads (as `by`, scored with `scoring`); returns {e-mail: id} of those
        created (a lead a concurrent request created first is left out)."""
        ...


@dataclass(frozen=True)
class LeadLifecycle:
    qualify: Qualify
    create_leads: CreateLeads


_registered: list[LeadLifecycle] = []


def register(lifecycle: LeadLifecycle) -> None:
    """Called once by LeadsConfig.ready(); a second call replaces the first."""
    _registered[:] = [lifecycle]


def lifecycle() -> LeadLifecycle:
    """The registered lifecycle owner. Refuses loudly rather than skipping an MQL."""
    if not _registered:
        raise ImproperlyConfigured(
            "No lead lifecycle is registered with scoring: LeadsConfig.ready() registers it."
        )
    return _registered[0]
