"""Lead sweeps: speed-to-lead SLA alerts, zombie-lead recycling, SLA attainment per rep.

Sweeps are idempotent and safe to run concurrently: each batch claims its rows with
`FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite serialises writers) and stamps them in the same
transaction, so a lead is alerted, escalated or recycled exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone

from activities.models import Activity
from crm.audit import diff, record, record_many
from crm.models import Notification, OrgSettings, User
from crm.selectors import escalation_managers
from crm.services import notify_many
from leads.assignment import FIRST_CONTACT_SUBJECT
from leads.models import Lead, LeadReason
from leads.services import transition_leads

ZOMBIE_REASON = "No engagement"
SWEEP_BATCH = 500


def _claim(qs: QuerySet[Lead], *, limit: int) -> list[Lead]:
    return list(
        qs.select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")
        .select_related("owner__team")[:limit]
    )


def _sla_recipient(lead: Lead, *, escalate: bool, managers: dict[int, int]) -> int | None:
    """Who hears about a missed first contact: the owner, or on escalation the manager above
    them (crm.selectors.escalation_managers)."""
    if escalate:
        owner = lead.owner  # the sweep picks owned leads only
        return managers.get(owner.team_id) if owner is not None and owner.team_id else None
    return lead.owner_id


def _sla_notifications(
    leads: list[Lead], *, escalate: bool, minutes: int, managers: dict[int, int]
) -> list[Notification]:
    rows = []
    for lead in leads:
        recipient = _sla_recipient(lead, escalate=escalate, managers=managers)
        if escalate:
            message = (
                f"{lead.owner} has not contacted {lead} {minutes} min after assignment "
                "(speed-to-lead SLA breached)."
            )
        else:
            message = f"First contact with {lead} is overdue: the SLA is {minutes} min."
        if recipient:
            rows.append(
                Notification(
                    recipient_id=recipient,
                    verb="sla_escalated" if escalate else "sla_breached",
                    message=message[:300],
                    url=f"/leads/{lead.pk}/",
                    target=lead,  # notify_many drops it if the recipient may not see the lead
                )
            )
    return rows


def check_first_contact_sla(*, now: datetime, batch_size: int = SWEEP_BATCH) -> dict[str, int]:
    """Alert the owner of every assigned, uncontacted lead past the first-contact SLA, then,
    after the escalation delay, the owner's team manager. Each happens once per lead: the
    `sla_alerted_at` / `sla_escalated_at` stamps are the claims. Both are audited per lead as
    the system ("lead.sla_breach" / "lead.sla_escalate", with who was told)."""
    org = OrgSettings.load()
    managers = escalation_managers()
    sla = timedelta(minutes=org.first_contact_sla_minutes)
    escalation = timedelta(minutes=org.sla_escalation_minutes)
    waiting = Lead.objects.filter(
        owner__isnull=False,
        assigned_at__isnull=False,
        first_contacted_at__isnull=True,
        stage__in=Lead.OPEN_STAGES,
    )
    steps = (
        (
            "breached",
            waiting.filter(sla_alerted_at__isnull=True, assigned_at__lte=now - sla),
            "sla_alerted_at",
            False,
            org.first_contact_sla_minutes,
        ),
        (
            "escalated",
            waiting.filter(
                sla_alerted_at__isnull=False,
                sla_escalated_at__isnull=True,
                assigned_at__lte=now - sla - escalation,
            ),
            "sla_escalated_at",
            True,
            org.first_contact_sla_minutes + org.sla_escalation_minutes,
        ),
    )
    counts = {"breached": 0, "escalated": 0}
    # A contacted lead's routing task ("First contact: …") is done: close it so it neither
    # reminds nor shows as overdue.
    counts["first_contact_tasks_closed"] = Activity.objects.filter(
        kind=Activity.Kind.TASK,
        done_at__isnull=True,
        subject__startswith=f"{FIRST_CONTACT_SUBJECT}:",
        lead__first_contacted_at__isnull=False,
    ).update(done_at=now)
    for name, qs, stamp, escalate, minutes in steps:
        while True:
            with transaction.atomic():
                leads = _claim(qs, limit=batch_size)
                if not leads:
                    break
                Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(**{stamp: now})
                record_many(
                    actor=None,
                    action="lead.sla_escalate" if escalate else "lead.sla_breach",
                    model=Lead,
                    ids=[lead.pk for lead in leads],
                    labels={lead.pk: str(lead) for lead in leads},
                    changes_for={
                        lead.pk: {
                            stamp: [None, now],
                            "notified": _sla_recipient(lead, escalate=escalate, managers=managers),
                        }
                        for lead in leads
                    },
                )
                notify_many(
                    _sla_notifications(leads, escalate=escalate, minutes=minutes, managers=managers)
                )
            counts[name] += len(leads)
    return counts


def zombie_leads(*, now: datetime, days: int) -> QuerySet[Lead]:
    """MQL leads with no engagement, no activity and no lifecycle move for `days`. Only MQL:
    a `new` lead is already in nurture (new → recycled is not a lifecycle move), and an SRL
    has an owner who accepted it (the speed-to-lead SLA watches those)."""
    cutoff = now - timedelta(days=days)
    return Lead.objects.filter(
        Q(last_engaged_at__isnull=True) | Q(last_engaged_at__lt=cutoff),
        Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=cutoff),
        Q(mql_at__isnull=True) | Q(mql_at__lt=cutoff),
        Q(recycled_at__isnull=True) | Q(recycled_at__lt=cutoff),
        stage=Lead.Lifecycle.MQL,
        created_at__lt=cutoff,
    )


def recycle_zombie_leads(*, now: datetime, batch_size: int = SWEEP_BATCH) -> dict[str, int]:
    """Recycle zombie leads with reason "No engagement" through `transition_leads` (logged,
    owners notified). Claimed in SKIP LOCKED batches: concurrent sweeps split the work."""
    days = OrgSettings.load().zombie_lead_days
    LeadReason.objects.get_or_create(kind=LeadReason.Kind.RECYCLE, label=ZOMBIE_REASON)
    recycled = 0
    while True:
        with transaction.atomic():
            ids = [
                lead.pk
                for lead in zombie_leads(now=now, days=days)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .only("pk")[:batch_size]
            ]
            if not ids:
                break
            moved = transition_leads(
                lead_ids=ids, to=Lead.Lifecycle.RECYCLED, by=None, reason=ZOMBIE_REASON
            )
        recycled += len(moved)
        if not moved:  # pragma: no cover -- every claimed lead is an MQL, locked: all move
            break
    return {"recycled": recycled}


@dataclass(frozen=True)
class SlaAttainment:
    """One rep's speed-to-lead record over a period (leads assigned in it)."""

    rep: User
    assigned: int
    met: int
    breached: int
    pending: int

    @property
    def percent(self) -> int | None:
        decided = self.met + self.breached
        return round(100 * self.met / decided) if decided else None


def sla_attainment(
    *, user: User, since: datetime, until: datetime, now: datetime | None = None
) -> list[SlaAttainment]:
    """Per rep: leads assigned in [since, until) that `user` may see, contacted within the
    first-contact SLA (met), late or not yet and past it (breached), or still inside it
    (pending). Measured against the current SLA setting. Two queries."""
    now = now or timezone.now()
    sla = timedelta(minutes=OrgSettings.load().first_contact_sla_minutes)
    deadline = ExpressionWrapper(F("assigned_at") + sla, output_field=DateTimeField())
    rows = (
        Lead.objects.visible_to(user)
        .filter(owner__isnull=False, assigned_at__gte=since, assigned_at__lt=until)
        .values("owner_id")
        .annotate(
            assigned=Count("pk"),
            met=Count("pk", filter=Q(first_contacted_at__lte=deadline)),
            late=Count("pk", filter=Q(first_contacted_at__gt=deadline)),
            open_past=Count(
                "pk", filter=Q(first_contacted_at__isnull=True, assigned_at__lt=now - sla)
            ),
        )
        .order_by()
    )
    data = {row["owner_id"]: row for row in rows}
    reps = User.objects.filter(pk__in=data).order_by("first_name", "last_name", "username")
    return [
        SlaAttainment(
            rep=rep,
            assigned=data[rep.pk]["assigned"],
            met=data[rep.pk]["met"],
            breached=data[rep.pk]["late"] + data[rep.pk]["open_past"],
            pending=data[rep.pk]["assigned"]
            - data[rep.pk]["met"]
            - data[rep.pk]["late"]
            - data[rep.pk]["open_past"],
        )
        for rep in reps
    ]


SWEEP_SETTING_FIELDS = (
    "first_contact_sla_minutes",
    "sla_escalation_minutes",
    "stale_escalate_after_days",
    "stale_auto_close_after_days",
    "zombie_lead_days",
)


@transaction.atomic
def update_sweep_settings(*, values: dict[str, int | None], by: User | None) -> OrgSettings:
    """Save the SLA / stale / zombie settings (validated; nothing saved on a bad value).
    A change is audited as "org_settings.update" (field: [old, new])."""
    unknown = set(values) - set(SWEEP_SETTING_FIELDS)
    if unknown:
        raise ValueError(f"not a sweep setting: {sorted(unknown)}")
    org = OrgSettings.objects.select_for_update().get(pk=OrgSettings.load().pk)
    before = {name: getattr(org, name) for name in values}
    for name, value in values.items():
        setattr(org, name, value)
    if org.zombie_lead_days < 1:
        raise ValidationError({"zombie_lead_days": "At least one day."})
    org.full_clean()
    org.save(update_fields=[*values, "updated_at"])
    delta = diff(before, values)
    if delta:
        record(actor=by, action="org_settings.update", target=org, changes=delta)
    return org
