"""Pipelines, their stages, opportunities and the stage-change history."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from crm.models import TimeStampedModel, User, scope_q


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", "Pipeline"
    BEST_CASE = "best_case", "Best case"
    COMMIT = "commit", "Commit"
    CLOSED = "closed", "Closed"
    OMITTED = "omitted", "Omitted"


class Pipeline(TimeStampedModel):
    """A sales process (e.g. one per product line). Exactly one is the default."""

    name = models.CharField(max_length=100, unique=True)
    is_default = models.BooleanField(default=False)
    is_archived = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_pipeline"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    """A column of a pipeline: ordered, with a win probability and a default forecast category."""

    class Kind(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.OPEN)
    forecast_category = models.CharField(
        max_length=16, choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE
    )
    rot_after_days = models.PositiveSmallIntegerField(default=0, help_text="0 = never rots.")
    wip_limit = models.PositiveIntegerField(null=True, blank=True)
    is_archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["pipeline", "order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_unique_name"),
            models.CheckConstraint(condition=Q(probability__lte=100), name="stage_probability_pct"),
            # The shape rule's "exactly one won stage", as far as a constraint can say it.
            models.UniqueConstraint(
                fields=["pipeline"],
                condition=Q(kind="won", is_archived=False),
                name="stage_one_won_per_pipeline",
                violation_error_message="A pipeline has exactly one won stage.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.kind == self.Kind.OPEN


class LostReason(models.Model):
    """Why deals are lost: a configurable list."""

    label = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "label"]

    def __str__(self) -> str:
        return self.label


class OpportunityQuerySet(models.QuerySet["Opportunity"]):
    def visible_to(self, user: User) -> OpportunityQuerySet:
        """The one visibility rule for deals: own / team subtree / all; marketing sees none."""
        if user.role == User.Role.MARKETING and not user.is_admin:
            return self.none()
        q = scope_q(user)
        return self if q is None else self.filter(q)

    def open(self) -> OpportunityQuerySet:
        return self.filter(stage__kind=Stage.Kind.OPEN)


class Opportunity(TimeStampedModel):
    """A deal in one pipeline stage. `version` guards against lost updates (optimistic)."""

    class DealType(models.TextChoices):
        NEW_BUSINESS = "new_business", "New business"
        EXPANSION = "expansion", "Expansion"

    name = models.CharField(max_length=200)
    account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="opportunities",
    )
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="opportunities",
        help_text="The primary lead / contact.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="opportunities"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities")
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    expected_close_date = models.DateField(null=True, blank=True)
    deal_type = models.CharField(
        max_length=16, choices=DealType.choices, default=DealType.NEW_BUSINESS
    )
    forecast_category = models.CharField(
        max_length=16, choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE
    )
    forecast_category_overridden = models.BooleanField(default=False)
    next_step = models.CharField(max_length=200, blank=True)
    next_step_date = models.DateField(null=True, blank=True)
    lost_reason = models.ForeignKey(
        LostReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lost_note = models.CharField(max_length=300, blank=True)
    position = models.FloatField(default=0, help_text="Order within the column (fractional).")
    stage_entered_at = models.DateTimeField()
    last_activity_at = models.DateTimeField(null=True, blank=True)
    is_stale = models.BooleanField(default=False)
    stale_since = models.DateTimeField(null=True, blank=True)
    stale_escalated_at = models.DateTimeField(null=True, blank=True)
    won_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        ordering = ["position", "pk"]
        verbose_name_plural = "opportunities"
        indexes = [
            models.Index(fields=["stage", "position", "id"], name="opp_stage_position"),
            models.Index(fields=["owner", "stage"], name="opp_owner_stage"),
            models.Index(fields=["pipeline", "stage"], name="opp_pipeline_stage"),
            # The forecast rollup's two range scans (open deals by expected close date, won
            # deals by closed date) read only these columns: covering indexes make them
            # index-only at 1M deals (PostgreSQL; elsewhere plain indexes on the key).
            models.Index(
                fields=["expected_close_date"],
                include=["owner", "stage", "forecast_category", "amount"],
                name="forecast_opp_close_cover",
            ),
            models.Index(
                fields=["closed_at"],
                include=["owner", "stage", "amount"],
                name="forecast_opp_closed_cover",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="opp_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def weighted_amount(self) -> Decimal:
        """Amount × the stage's win probability (needs `stage` loaded)."""
        return self.amount * self.stage.probability / 100


class StageChange(models.Model):
    """One move of a deal between stages: time in stage, velocity and the audit trail."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(db_index=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    seconds_in_from_stage = models.PositiveBigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [
            models.Index(fields=["opportunity", "-changed_at"], name="stagechange_opp_at"),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id}: {self.from_stage_id} → {self.to_stage_id}"


class ContactRoleQuerySet(models.QuerySet["ContactRole"]):
    def visible_to(self, user: User) -> ContactRoleQuerySet:
        """A deal's contact roles are seen by whoever sees the deal."""
        return self.filter(opportunity__in=Opportunity.objects.visible_to(user).values("pk"))


class ContactRole(TimeStampedModel):
    """A contact's part in a deal's buying committee; one contact per deal once, and at
    most one primary contact per deal (a partial unique index says so)."""

    class Role(models.TextChoices):
        DECISION_MAKER = "decision_maker", "Decision maker"
        ECONOMIC_BUYER = "economic_buyer", "Economic buyer"
        CHAMPION = "champion", "Champion"
        INFLUENCER = "influencer", "Influencer"
        USER = "user", "User"
        TECHNICAL_EVALUATOR = "technical_evaluator", "Technical evaluator"
        OTHER = "other", "Other"

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="contact_roles"
    )
    contact = models.ForeignKey(
        "accounts.Contact", on_delete=models.CASCADE, related_name="deal_roles"
    )
    role = models.CharField(max_length=24, choices=Role.choices, default=Role.OTHER)
    is_primary = models.BooleanField(default=False)

    objects = ContactRoleQuerySet.as_manager()

    class Meta:
        ordering = ["-is_primary", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["opportunity", "contact"],
                name="contactrole_once_per_deal",
                violation_error_message="This contact is already on the deal.",
            ),
            models.UniqueConstraint(
                fields=["opportunity"],
                condition=Q(is_primary=True),
                name="contactrole_one_primary",
                violation_error_message="A deal has one primary contact.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} on deal #{self.opportunity_id}"
