"""Leads and their lifecycle: new → mql → srl → sql → converted, exits disqualified / recycled."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.models import TimeStampedModel, User, scope_q


class LeadQuerySet(models.QuerySet["Lead"]):
    def visible_to(self, user: User) -> LeadQuerySet:
        """The one visibility rule for leads. Pages, API, exports and totals all start here.

        Admin and marketing see every lead; a manager sees their subtree's and unassigned
        leads; a rep sees their own.
        """
        if user.is_admin or user.role == User.Role.MARKETING:
            return self
        q = scope_q(user)
        assert q is not None  # None means "everything": admins, returned above
        if user.role == User.Role.MANAGER:
            q = q | Q(owner__isnull=True)
        return self.filter(q)

    def open(self) -> LeadQuerySet:
        return self.filter(stage__in=Lead.OPEN_STAGES)


class Lead(TimeStampedModel):
    """A person who might buy. Stage changes only through `leads.services`."""

    class Lifecycle(models.TextChoices):
        NEW = "new", "New"
        MQL = "mql", "MQL"
        SRL = "srl", "SRL"
        SQL = "sql", "SQL"
        CONVERTED = "converted", "Converted"
        DISQUALIFIED = "disqualified", "Disqualified"
        RECYCLED = "recycled", "Recycled"

    class Source(models.TextChoices):
        WEB_FORM = "web_form", "Web form"
        IMPORT = "import", "Import"
        EVENT = "event", "Event"
        REFERRAL = "referral", "Referral"
        OUTBOUND = "outbound", "Outbound"
        PARTNER = "partner", "Partner"
        OTHER = "other", "Other"

    # The transition table is the spec; services enforce it, pages show its buttons.
    NEXT: ClassVar[dict[str, frozenset[str]]] = {
        Lifecycle.NEW: frozenset({Lifecycle.MQL, Lifecycle.DISQUALIFIED}),
        Lifecycle.MQL: frozenset({Lifecycle.SRL, Lifecycle.DISQUALIFIED, Lifecycle.RECYCLED}),
        Lifecycle.SRL: frozenset({Lifecycle.SQL, Lifecycle.DISQUALIFIED, Lifecycle.RECYCLED}),
        Lifecycle.SQL: frozenset({Lifecycle.CONVERTED, Lifecycle.DISQUALIFIED}),
        Lifecycle.CONVERTED: frozenset(),
        Lifecycle.DISQUALIFIED: frozenset({Lifecycle.RECYCLED}),
        # Recycled leads are back in nurture: they can qualify again.
        Lifecycle.RECYCLED: frozenset({Lifecycle.MQL, Lifecycle.DISQUALIFIED}),
    }
    OPEN_STAGES: ClassVar[tuple[str, ...]] = (
        Lifecycle.NEW,
        Lifecycle.MQL,
        Lifecycle.SRL,
        Lifecycle.SQL,
    )
    BANT: ClassVar[tuple[str, ...]] = ("budget", "authority", "need", "timeline")

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    # Stored trimmed and lower-cased. Unique through a named constraint, not unique=True: that
    # would add a second (LIKE-pattern) index on PostgreSQL that nothing uses and every
    # imported lead pays for. Same for external_id.
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=150, blank=True)
    company = models.CharField(max_length=200, blank=True)
    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    # The contact the lead became (or was linked to) when it converted. Indexed only where
    # set (lead_contact): most leads never convert, and imports should not pay for them.
    contact = models.ForeignKey(
        "accounts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        db_index=False,
    )
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.OTHER)
    campaign = models.CharField(max_length=200, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    # NULL when absent, so the unique constraint allows many leads without one.
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    attributes = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="leads",
        db_index=False,  # lead_owner_stage (owner, stage) serves lookups by owner
    )

    # Score (written by scoring.services only): fit + engagement, with a per-rule breakdown.
    # Not indexed on purpose: scoring rewrites scores constantly, and with no indexed column
    # among the score fields PostgreSQL updates them in place (HOT, see migration 0005)
    # instead of touching every index of the table. Sorting a scope by score is a top-N sort.
    score = models.IntegerField(default=0)
    fit_score = models.IntegerField(default=0)
    engagement_score = models.IntegerField(default=0)
    score_breakdown = models.JSONField(default=list, blank=True)
    score_version = models.PositiveIntegerField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    last_engaged_at = models.DateTimeField(null=True, blank=True)

    # Lifecycle
    stage = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.NEW)
    mql_at = models.DateTimeField(null=True, blank=True)
    srl_at = models.DateTimeField(null=True, blank=True)
    sql_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    disqualified_at = models.DateTimeField(null=True, blank=True)
    recycled_at = models.DateTimeField(null=True, blank=True)
    stage_reason = models.CharField(max_length=200, blank=True)

    # BANT: each a yes/no (None = not asked yet) plus a short note.
    budget_confirmed = models.BooleanField(null=True, blank=True)
    budget_note = models.CharField(max_length=300, blank=True)
    authority_confirmed = models.BooleanField(null=True, blank=True)
    authority_note = models.CharField(max_length=300, blank=True)
    need_confirmed = models.BooleanField(null=True, blank=True)
    need_note = models.CharField(max_length=300, blank=True)
    timeline_confirmed = models.BooleanField(null=True, blank=True)
    timeline_note = models.CharField(max_length=300, blank=True)

    # Follow-up and routing
    assigned_at = models.DateTimeField(null=True, blank=True)
    unassignable_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when no rep could take the lead."
    )
    first_contacted_at = models.DateTimeField(null=True, blank=True)
    sla_alerted_at = models.DateTimeField(null=True, blank=True)
    sla_escalated_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            models.Index(fields=["stage", "-created_at"], name="lead_stage_created"),
            models.Index(fields=["updated_at"], name="lead_updated"),
            models.Index(
                fields=["mql_at"],
                name="lead_unassigned_mql",
                condition=Q(stage="mql", owner__isnull=True),
            ),
            models.Index(
                fields=["contact"], name="lead_contact", condition=Q(contact__isnull=False)
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(email=""), name="lead_email_not_blank"),
            models.UniqueConstraint(fields=["email"], name="lead_unique_email"),
            models.UniqueConstraint(fields=["external_id"], name="lead_unique_external_id"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def email_domain(self) -> str:
        return self.email.rpartition("@")[2]

    def missing_bant(self) -> list[str]:
        """The BANT items not yet confirmed (SQL needs all four)."""
        return [item for item in self.BANT if getattr(self, f"{item}_confirmed") is not True]

    def allowed_next(self) -> list[str]:
        return sorted(self.NEXT.get(self.stage, frozenset()))

    def can_move_to(self, stage: str) -> bool:
        """Whether the lifecycle allows `stage` next. SQL also needs all four BANT answers."""
        allowed = stage in self.NEXT.get(self.stage, frozenset())
        return allowed and (stage != self.Lifecycle.SQL or not self.missing_bant())


class LeadReason(models.Model):
    """A configurable reason to disqualify or recycle a lead."""

    class Kind(models.TextChoices):
        DISQUALIFY = "disqualify", "Disqualify"
        RECYCLE = "recycle", "Recycle"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    label = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["kind", "order", "label"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "label"], name="leadreason_unique_label")
        ]

    def __str__(self) -> str:
        return self.label


class LeadTransition(models.Model):
    """One lifecycle move of a lead: the audit trail and the funnel's raw data."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=16, choices=Lead.Lifecycle.choices)
    to_stage = models.CharField(max_length=16, choices=Lead.Lifecycle.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["lead", "-at"], name="leadtransition_lead_at")]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage} → {self.to_stage}"


class ImportIdempotencyKey(models.Model):
    """The first response to an import sent with an `Idempotency-Key` header.

    Unique per (user, key): the same key and body within 24 h replays `response`; the same key
    with another body is refused. Two racing requests with one key: the unique index lets one
    row in, the other request replays it.
    """

    WINDOW: ClassVar[timedelta] = timedelta(hours=24)  # replays within it; purged after it

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    body_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="import_idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class CsvColumnMapping(models.Model):
    """A saved CSV column mapping (CSV header → lead field) that marketing reuses.

    `columns` maps a header as it appears in the file to a lead field name ("" = skip).
    """

    name = models.CharField(max_length=100, unique=True)
    columns = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LeadCsvUpload(models.Model):
    """One CSV file marketing uploaded on the import page, kept between the map, preview and
    import steps (any web process can pick it up) and afterwards for its failed-rows report."""

    RETENTION: ClassVar[timedelta] = timedelta(days=30)  # then the nightly purge deletes it

    filename = models.CharField(max_length=255)
    content = models.TextField()
    columns = models.JSONField(default=dict, blank=True)  # header → lead field, once mapped
    match_on = models.CharField(max_length=16, default="email")
    summary = models.JSONField(null=True, blank=True)  # counts after the import ran
    failed_rows = models.JSONField(default=list, blank=True)  # [{"row": n, "errors": "…"}]
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename


from leads.routing_models import AssignmentLog, AssignmentRule  # noqa: E402, F401  (workers: routing)
