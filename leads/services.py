"""Lead lifecycle: every stage change goes through `transition_leads` (set-based)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from crm.models import User
from leads.models import Lead, LeadTransition


class InvalidTransition(Exception):
    """The lifecycle does not allow this move. Carries what is allowed from here."""

    def __init__(self, detail: str, allowed: Iterable[str]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.allowed = sorted(allowed)


NEEDS_REASON = frozenset({Lead.Lifecycle.DISQUALIFIED, Lead.Lifecycle.RECYCLED})


def _stamp_field(stage: str) -> str:
    return f"{stage}_at"


@transaction.atomic
def transition_lead(
    *, lead: Lead, to: str, by: User | None, reason: str = "", note: str = ""
) -> Lead:
    """Move one lead to `to`, or raise InvalidTransition saying why.

    The row is locked first, so two concurrent moves of the same lead serialise and the
    second sees the first's result.
    """
    locked = Lead.objects.select_for_update().get(pk=lead.pk)
    allowed = locked.NEXT.get(locked.stage, frozenset())
    if to not in Lead.Lifecycle.values:
        raise InvalidTransition(f"Unknown stage {to!r}.", allowed)
    if to not in allowed:
        raise InvalidTransition(
            f"A {locked.get_stage_display()} lead cannot move to {Lead.Lifecycle(to).label}.",
            allowed,
        )
    if to == Lead.Lifecycle.SRL and locked.owner_id is None:
        raise InvalidTransition("Assign an owner (a rep) before sales accepts the lead.", allowed)
    if to == Lead.Lifecycle.SQL and (missing := locked.missing_bant()):
        raise InvalidTransition(f"BANT is incomplete: confirm {', '.join(missing)} first.", allowed)
    if to in NEEDS_REASON and not reason.strip():
        raise InvalidTransition("A reason is required.", allowed)
    if to == Lead.Lifecycle.CONVERTED:
        raise InvalidTransition("Convert the lead to create its opportunity.", allowed)
    moved = transition_leads(lead_ids=[locked.pk], to=to, by=by, reason=reason, note=note)
    if not moved:  # pragma: no cover -- the lock above makes this unreachable
        raise InvalidTransition("The lead changed meanwhile; reload.", allowed)
    locked.refresh_from_db()
    return locked


@transaction.atomic
def transition_leads(
    *,
    lead_ids: Iterable[int],
    to: str,
    by: User | None,
    reason: str = "",
    note: str = "",
    notify_owner: bool = True,
) -> list[int]:
    """Set-based lifecycle move for many leads (bulk actions, scoring, sweeps).

    Only leads whose current stage allows `to` move (the others are left alone and not
    returned); rows are locked in pk order so concurrent batches cannot deadlock.
    Returns the ids that moved. SQL still needs BANT, SRL an owner: those rules are checked
    per row in Python on the locked rows, no extra queries.
    """
    now = timezone.now()
    from_stages = [stage for stage, nexts in Lead.NEXT.items() if to in nexts]
    rows = list(
        Lead.objects.select_for_update()
        .filter(pk__in=list(lead_ids), stage__in=from_stages)
        .order_by("pk")
        .only("pk", "stage", "owner_id", *[f"{b}_confirmed" for b in Lead.BANT])
    )
    if to == Lead.Lifecycle.SRL:
        rows = [lead for lead in rows if lead.owner_id is not None]
    if to == Lead.Lifecycle.SQL:
        rows = [lead for lead in rows if not lead.missing_bant()]
    if not rows:
        return []
    ids = [lead.pk for lead in rows]
    updates: dict[str, object] = {"stage": to, _stamp_field(to): now, "updated_at": now}
    if to in NEEDS_REASON:
        updates["stage_reason"] = reason[:200]
    Lead.objects.filter(pk__in=ids).update(**updates)
    LeadTransition.objects.bulk_create(
        LeadTransition(
            lead_id=lead.pk,
            from_stage=lead.stage,
            to_stage=to,
            by=by,
            at=now,
            reason=reason[:200],
            note=note,
        )
        for lead in rows
    )
    from crm.audit import record_many

    record_many(
        actor=by,
        action="lead.transition",
        model=Lead,
        ids=ids,
        changes={"stage": [sorted({lead.stage for lead in rows}), to], "reason": reason[:200]},
    )
    if notify_owner:
        _notify_owners(lead_ids=ids, to=to, by=by)
    if to == Lead.Lifecycle.MQL:
        from leads.assignment import enqueue_assignment

        enqueue_assignment(lead_ids=ids)
    return ids


def _notify_owners(*, lead_ids: list[int], to: str, by: User | None) -> None:
    """Tell each owner (not the actor) that their leads moved: one notification per owner."""
    from collections import defaultdict

    from crm.models import Notification
    from crm.services import notify_many

    by_owner: dict[int, list[int]] = defaultdict(list)
    for lead_id, owner_id in Lead.objects.filter(pk__in=lead_ids, owner__isnull=False).values_list(
        "pk", "owner_id"
    ):
        if by is None or owner_id != by.pk:
            by_owner[owner_id].append(lead_id)
    label = Lead.Lifecycle(to).label
    rows = []
    for owner_id, ids in by_owner.items():
        if len(ids) == 1:
            message, url = f"Your lead #{ids[0]} moved to {label}.", f"/leads/{ids[0]}/"
        else:
            message, url = f"{len(ids)} of your leads moved to {label}.", "/leads/"
        rows.append(
            Notification(
                recipient_id=owner_id, actor=by, verb=f"lead_{to}", message=message, url=url
            )
        )
    if rows:
        notify_many(rows)
