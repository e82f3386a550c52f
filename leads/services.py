"""Lead state changes: the lifecycle (every stage change goes through `transition_leads`,
set-based, and the moves a page offers come from `allowed_transitions`), the one MQL rule for
scores (`qualify_crossers`), creation (`create_leads`, in leads.creation), conversion, owner
assignment, BANT and edits. The lead import is the `leads.importing` package."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Account
from accounts.services import contact_for_lead, create_account
from crm.audit import diff, record, record_many
from crm.models import Notification, User, users_visible_to
from crm.services import notify, notify_many
from leads.assignment import enqueue_assignment
from leads.creation import create_leads  # the creation service, offered with the lifecycle
from leads.importing.fields import clean_lead_fields, merge_attributes
from leads.models import ImportIdempotencyKey, Lead, LeadCsvUpload, LeadReason, LeadTransition
from pipeline.models import ContactRole, Opportunity, Pipeline
from pipeline.services import add_contact_role, create_opportunity
from scoring.handoff import UnknownLead
from scoring.services import NewLeadScoring, ThresholdCrossing, score_leads
from webhooks.events import record_events


class InvalidTransition(Exception):
    """The lifecycle does not allow this move. Carries what is allowed from here."""

    def __init__(self, detail: str, allowed: Iterable[str]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.allowed = sorted(allowed)


NEEDS_REASON = frozenset({Lead.Lifecycle.DISQUALIFIED, Lead.Lifecycle.RECYCLED})
# Which kind of configured reason each move that needs one offers.
REASON_KINDS: dict[str, str] = {
    Lead.Lifecycle.DISQUALIFIED: LeadReason.Kind.DISQUALIFY,
    Lead.Lifecycle.RECYCLED: LeadReason.Kind.RECYCLE,
}


def _stamp_field(stage: str) -> str:
    return f"{stage}_at"


@dataclass(frozen=True)
class AllowedTransition:
    """One move the lifecycle allows from a lead's stage, as a page offers it.

    `unmet` says what the lead still lacks (an owner for SRL, BANT for SQL): the move is
    offered but refused until then, with this very message. `reasons` are the configured
    reasons to choose from when the move needs one. `converts`: the move is the conversion
    (its own form: it creates the opportunity)."""

    to: str
    label: str
    unmet: str = ""
    needs_reason: bool = False
    reasons: tuple[str, ...] = ()
    converts: bool = False


def allowed_transitions(
    *, lead: Lead, reasons: Iterable[LeadReason] = ()
) -> list[AllowedTransition]:
    """The moves `lead`'s stage allows (the transition table, in stage order), each with what
    it still needs. No queries: `reasons` are the active LeadReasons the page already read.
    `transition_lead` refuses exactly what this reports as unmet."""
    labels: dict[str, list[str]] = defaultdict(list)
    for reason in reasons:
        labels[reason.kind].append(reason.label)
    return [
        AllowedTransition(
            to=stage,
            label=Lead.Lifecycle(stage).label,
            unmet=_unmet(lead, stage),
            needs_reason=stage in NEEDS_REASON,
            reasons=tuple(labels[REASON_KINDS[stage]]) if stage in NEEDS_REASON else (),
            converts=stage == Lead.Lifecycle.CONVERTED,
        )
        for stage in lead.allowed_next()
    ]


def _unmet(lead: Lead, to: str) -> str:
    """What `lead` lacks for an allowed move to `to` ("" = nothing)."""
    if to == Lead.Lifecycle.SRL and lead.owner_id is None:
        return "Assign an owner (a rep) before sales accepts the lead."
    if to == Lead.Lifecycle.SQL and (missing := lead.missing_bant()):
        return f"BANT is incomplete: confirm {', '.join(missing)} first."
    return ""


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
    if unmet := _unmet(locked, to):
        raise InvalidTransition(unmet, allowed)
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
        .filter(pk__any=list(lead_ids), stage__in=from_stages)
        .order_by("pk")
        .only(
            "pk",
            "stage",
            "owner_id",
            "first_name",
            "last_name",
            "email",
            *[f"{b}_confirmed" for b in Lead.BANT],
        )
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
    Lead.objects.filter(pk__any=ids).update(**updates)
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
    # Each lead's own old stage: a bulk move can mix leads coming from different stages.
    record_many(
        actor=by,
        action="lead.transition",
        model=Lead,
        ids=ids,
        labels={lead.pk: str(lead) for lead in rows},
        changes_for={lead.pk: {"stage": [lead.stage, to], "reason": reason[:200]} for lead in rows},
    )
    previous = {lead.pk: {"stage": lead.stage} for lead in rows}
    record_events(event="lead.stage_changed", model=Lead, ids=ids, previous=previous, now=now)
    if notify_owner:
        _notify_owners(lead_ids=ids, to=to, by=by)
    if to == Lead.Lifecycle.MQL:
        enqueue_assignment(lead_ids=ids)
    return ids


def _notify_owners(*, lead_ids: list[int], to: str, by: User | None) -> None:
    """Tell each owner (not the actor) that their leads moved: one notification per owner."""
    by_owner: dict[int, list[int]] = defaultdict(list)
    for lead_id, owner_id in Lead.objects.filter(pk__any=lead_ids, owner__isnull=False).values_list(
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


# --- Scores → MQL, and new leads -----------------------------------------------------------


def qualifies_for_mql(*, stage: str, mql_at: datetime | None) -> bool:
    """The one rule for a score that reaches the MQL threshold: the lead becomes MQL once —
    only while still `new` and never MQL before (a recycled lead re-qualifies by hand, not
    by its score); a score that drops later never demotes anyone."""
    return stage == Lead.Lifecycle.NEW and mql_at is None


def qualify_crossers(*, crossings: Sequence[ThresholdCrossing]) -> list[int]:
    """Move to MQL the leads a scoring pass scored at or over the threshold that qualify (the
    rule above), with a LeadTransition, audit entries, owner notifications and routing like
    any move. Every scoring path ends here: events, rescore jobs and decay (through
    scoring.handoff), the import and lead edits (directly). Stage and `mql_at` are what the
    pass read under its row lock in this transaction, so deciding costs no query; nothing to
    move costs none at all."""
    ids = [c.lead_id for c in crossings if qualifies_for_mql(stage=c.stage, mql_at=c.mql_at)]
    if not ids:
        return []
    return transition_leads(lead_ids=ids, to=Lead.Lifecycle.MQL, by=None)


def rescore_leads(*, lead_ids: Iterable[int]) -> list[int]:
    """Score these leads again after their fields changed and qualify the crossers, in the
    caller's transaction. Returns the ids that became MQL."""
    return qualify_crossers(crossings=score_leads(lead_ids=lead_ids).crossed)


def create_event_leads(
    *, leads: Sequence[UnknownLead], by: User, scoring: NewLeadScoring
) -> dict[str, int]:
    """The `new` leads an engagement-event batch asked for ("create_lead": true), created
    like imported ones (create_leads: owner rule, scored, audited as lead.event.created) and
    qualified if their fit alone reaches the threshold. A lead a concurrent request created
    first is skipped, not an error. Returns {e-mail: id} of those created."""
    rows: list[dict[str, Any]] = [
        {"email": lead.email, "external_id": lead.external_id, "source": Lead.Source.EVENT}
        for lead in sorted(leads, key=lambda lead: lead.email)
    ]
    created = create_leads(rows=rows, by=by, via="event", scoring=scoring, skip_conflicts=True)
    qualify_crossers(crossings=created.crossed)
    return created.ids


# --- Conversion (sql → converted) ----------------------------------------------------------

# Free / public mail providers: a lead at gmail.com says nothing about their company, so these
# domains never match (or create) an account by domain.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "qq.com",
        "163.com",
        "126.com",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "t-online.de",
        "libero.it",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
    }
)


def company_domain(email: str) -> str:
    """The e-mail's domain when it can identify a company, else ""."""
    domain = email.rpartition("@")[2].strip().lower()
    return "" if domain in PUBLIC_MAIL_DOMAINS else domain


def match_account(*, email: str, company: str) -> Account | None:
    """The account a lead belongs to: same e-mail domain first, then the same company name
    (case-insensitive). Public mail domains never match. Oldest account wins a tie."""
    domain = company_domain(email)
    if domain:
        account = Account.objects.filter(domain__iexact=domain).order_by("pk").first()
        if account is not None:
            return account
    name = company.strip()
    if name:
        return (
            Account.objects.annotate(lower_name=Lower("name"))
            .filter(lower_name=name.lower())
            .order_by("pk")
            .first()
        )
    return None


@transaction.atomic
def convert_lead(
    *,
    lead: Lead,
    by: User,
    pipeline: Pipeline,
    amount: Decimal = Decimal("0"),
    expected_close_date: date | None = None,
    deal_type: str | None = None,
    name: str = "",
) -> Opportunity:
    """Convert an SQL lead: create its opportunity in the pipeline's first open stage, link
    or create the account, create the lead's contact at that account (or link the contact
    that already has the lead's e-mail), make it the deal's primary contact, keep the lead →
    contact link, and move the lead to converted.

    The lead row is locked first, so two concurrent conversions serialise and the second is
    refused (a lead converts once). Everything commits together or not at all.
    """
    locked = Lead.objects.select_for_update().get(pk=lead.pk)
    allowed = locked.NEXT.get(locked.stage, frozenset())
    if locked.stage == Lead.Lifecycle.CONVERTED:
        raise InvalidTransition("This lead is already converted.", allowed)
    if locked.stage != Lead.Lifecycle.SQL:
        raise InvalidTransition(
            f"Only SQL leads convert; this one is {locked.get_stage_display()}.", allowed
        )
    if pipeline.is_archived:
        raise ValidationError({"pipeline": "That pipeline is archived."})
    owner = locked.owner or by
    account = locked.account or match_account(email=locked.email, company=locked.company)
    if account is None:
        domain = company_domain(locked.email)
        account = create_account(
            by=by,
            name=(locked.company.strip() or domain or locked.email)[:200],
            domain=domain,
            industry=locked.industry,
            employee_count=locked.employee_count,
            country=locked.country,
            region=locked.region,
            owner=owner,
            check_owner=False,  # the lead's owner, or the converting user
        )
    contact = contact_for_lead(
        by=by,
        email=locked.email,
        account=account,
        owner=owner,
        first_name=locked.first_name,
        last_name=locked.last_name,
        phone=locked.phone,
        title=locked.title,
    )
    opportunity = create_opportunity(
        by=by,
        name=name.strip() or f"{account.name} – {locked.full_name or locked.email}"[:200],
        pipeline=pipeline,
        owner=owner,
        account=account,
        lead=locked,
        amount=amount,
        expected_close_date=expected_close_date,
        deal_type=deal_type or None,
    )
    # The person the lead was is the new deal's primary contact (their role is unknown yet).
    add_contact_role(
        opportunity=opportunity,
        contact=contact,
        role=ContactRole.Role.OTHER,
        by=by,
        is_primary=True,
        check_visible=False,  # the lead's own person, whoever owns the contact
    )
    Lead.objects.filter(pk=locked.pk).update(account=account, contact=contact)
    transition_leads(lead_ids=[locked.pk], to=Lead.Lifecycle.CONVERTED, by=by)
    return opportunity


# --- Owners, BANT, edits ------------------------------------------------------------------


def assignable_owners(*, user: User) -> QuerySet[User]:
    """Who `user` may hand leads to: active reps and managers within their scope."""
    return users_visible_to(user).filter(role__in=[User.Role.REP, User.Role.MANAGER])


@transaction.atomic
def assign_leads(*, lead_ids: Iterable[int], owner: User, by: User) -> list[int]:
    """Give these leads (already scoped to `by` by the caller) to `owner`, set-based.

    Converted leads keep their owner. The new owner gets one notification for the batch.
    Each lead that changed hands is audited ("lead.assign", owner_id old → new, by `by`).
    Returns the ids that changed hands.
    """
    if not assignable_owners(user=by).filter(pk=owner.pk).exists():
        raise ValidationError({"owner": "You cannot assign leads to that user."})
    now = timezone.now()
    rows = list(
        Lead.objects.filter(pk__any=list(lead_ids))
        .exclude(stage=Lead.Lifecycle.CONVERTED)
        .exclude(owner=owner)
        .order_by("pk")
        .select_for_update()
        .only("pk", "owner_id", "first_name", "last_name", "email")
    )
    ids = [lead.pk for lead in rows]
    if not ids:
        return []
    Lead.objects.filter(pk__any=ids).update(owner=owner, assigned_at=now, updated_at=now)
    record_many(
        actor=by,
        action="lead.assign",
        model=Lead,
        ids=ids,
        labels={lead.pk: str(lead) for lead in rows},
        changes_for={lead.pk: {"owner_id": [lead.owner_id, owner.pk]} for lead in rows},
    )
    previous = {lead.pk: {"owner": lead.owner_id} for lead in rows}
    record_events(event="lead.assigned", model=Lead, ids=ids, previous=previous, now=now)
    if by.pk != owner.pk:
        if len(ids) == 1:
            message, url = f"{by} assigned you lead #{ids[0]}.", f"/leads/{ids[0]}/"
        else:
            message, url = f"{by} assigned you {len(ids)} leads.", "/leads/?owner=me"
        notify(recipients=[owner], verb="lead_assigned", message=message, url=url, actor=by)
    return ids


@transaction.atomic
def record_bant(*, lead: Lead, by: User, answers: dict[str, Any]) -> Lead:
    """Record the owner's BANT answers (`<item>_confirmed` yes/no/None and `<item>_note`).

    Only the keys given change. Converted or disqualified leads are closed: refused.
    """
    allowed = {f"{item}_{part}" for item in Lead.BANT for part in ("confirmed", "note")}
    if unknown := set(answers) - allowed:
        raise ValidationError({"bant": f"Unknown BANT field(s): {', '.join(sorted(unknown))}."})
    locked = Lead.objects.select_for_update().get(pk=lead.pk)
    if locked.stage not in Lead.OPEN_STAGES:
        raise ValidationError({"bant": "This lead is closed; its BANT can no longer change."})
    before = {name: getattr(locked, name) for name in answers}
    for name, value in answers.items():
        setattr(locked, name, (value or "")[:300] if name.endswith("_note") else value)
    locked.save(update_fields=[*answers, "updated_at"])
    _lead_updated(locked, before)
    return locked


def _lead_updated(lead: Lead, before: dict[str, Any]) -> None:
    """The `lead.updated` webhook event of one edit, `previous` holding the changed fields."""
    changed = diff(before, {name: getattr(lead, name) for name in before})
    previous = {name: old for name, (old, _) in changed.items()}
    if previous:
        record_events(event="lead.updated", model=Lead, ids=[lead.pk], previous={lead.pk: previous})


@transaction.atomic
def update_lead(*, lead: Lead, by: User, data: dict[str, Any]) -> Lead:
    """Edit a lead's fields (edit form and PATCH): only the fields given change.

    Validates like the import (same rules, same messages); the unique e-mail and external id
    are enforced by the database, reported as field errors. Rescores the lead.
    """
    clean, errors = clean_lead_fields(data, partial=True)
    if "owner" in clean:
        errors.setdefault("owner", []).append("Change the owner with Assign.")
    if errors:
        raise ValidationError(errors)
    locked = Lead.objects.select_for_update().get(pk=lead.pk)
    before = {name: getattr(locked, name) for name in clean}
    for name, value in clean.items():
        if name == "attributes":
            value = merge_attributes(locked.attributes or {}, value)
        setattr(locked, name, value)
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        taken = {}
        if "email" in clean and Lead.objects.filter(email=clean["email"]).exclude(pk=locked.pk):
            taken["email"] = ["Another lead already has this e-mail."]
        if clean.get("external_id") and (
            Lead.objects.filter(external_id=clean["external_id"]).exclude(pk=locked.pk)
        ):
            taken["external_id"] = ["Another lead already has this external id."]
        raise ValidationError(taken or {"detail": ["The lead could not be saved."]}) from None
    after = {name: getattr(locked, name) for name in clean}
    record(actor=by, action="lead.update", target=locked, changes=diff(before, after))
    _lead_updated(locked, before)
    rescore_leads(lead_ids=[locked.pk])
    return locked


# --- Import housekeeping ----------------------------------------------------------------


@transaction.atomic
def purge_import_records(*, now: datetime) -> dict[str, int]:
    """Delete Idempotency-Key records past their 24 h window and CSV uploads (file text and
    failed-rows report) older than 30 days. Idempotent: a second run finds nothing."""
    keys, _ = ImportIdempotencyKey.objects.filter(
        created_at__lt=now - ImportIdempotencyKey.WINDOW
    ).delete()
    uploads, _ = LeadCsvUpload.objects.filter(created_at__lt=now - LeadCsvUpload.RETENTION).delete()
    return {"idempotency_keys": keys, "csv_uploads": uploads}
