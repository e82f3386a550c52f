"""Routing models: assignment rules and the assignment log (imported by leads.models).

The behaviour lives in leads.assignment; these hold configuration, the rotation cursor and the
audit trail only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from leads.models import Lead


class AssignmentRule(models.Model):
    """One routing rule: criteria on the lead → a team or a list of reps, by a method.

    Rules are tried in `priority` order (lowest first) and the first match wins; a fallback rule
    matches every lead no other rule took. `last_assigned` is the round-robin cursor: it is only
    read and written while the rule's advisory lock is held (see leads.assignment).
    Empty criteria match everything.
    """

    class Method(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round robin (strict rotation)"
        LOAD_BALANCED = "load_balanced", "Load balanced (fewest open leads)"

    CRITERIA_FIELDS: ClassVar[tuple[str, ...]] = (
        "regions",
        "countries",
        "sources",
        "industries",
        "employee_min",
        "employee_max",
        "score_min",
        "score_max",
    )

    name = models.CharField(max_length=100, unique=True)
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    is_active = models.BooleanField(default=True)
    is_fallback = models.BooleanField(
        default=False, help_text="Catches every lead no other rule matched (or could serve)."
    )
    # Criteria: lists compare case-insensitively; empty list / None = any.
    regions = models.JSONField(default=list, blank=True)
    countries = models.JSONField(default=list, blank=True)
    sources = models.JSONField(default=list, blank=True)
    industries = models.JSONField(default=list, blank=True)
    employee_min = models.PositiveIntegerField(null=True, blank=True)
    employee_max = models.PositiveIntegerField(null=True, blank=True)
    score_min = models.IntegerField(null=True, blank=True)
    score_max = models.IntegerField(null=True, blank=True)
    # Target: a team (its available reps, sub-teams included) or an explicit list of reps.
    target_team = models.ForeignKey(
        "crm.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target_reps = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.ROUND_ROBIN)
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_fallback"],
                condition=Q(is_fallback=True),
                name="one_fallback_rule",
                violation_error_message="Another rule is already the fallback.",
            ),
            models.CheckConstraint(
                condition=Q(employee_min__isnull=True)
                | Q(employee_max__isnull=True)
                | Q(employee_min__lte=models.F("employee_max")),
                name="rule_employee_range",
                violation_error_message="Employees: the upper bound is below the lower bound.",
            ),
            models.CheckConstraint(
                condition=Q(score_min__isnull=True)
                | Q(score_max__isnull=True)
                | Q(score_min__lte=models.F("score_max")),
                name="rule_score_range",
                violation_error_message="Score: the upper bound is below the lower bound.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def matches(self, lead: Lead) -> bool:
        """Whether `lead` meets every criterion (a fallback rule matches everything). No query."""
        if self.is_fallback:
            return True

        def in_list(values: list[str], value: str) -> bool:
            return not values or value.strip().casefold() in {v.casefold() for v in values}

        def in_range(low: int | None, high: int | None, value: int | None) -> bool:
            if low is None and high is None:
                return True
            if value is None:
                return False
            return (low is None or value >= low) and (high is None or value <= high)

        return (
            in_list(self.regions, lead.region)
            and in_list(self.countries, lead.country)
            and in_list(self.sources, lead.source)
            and in_list(self.industries, lead.industry)
            and in_range(self.employee_min, self.employee_max, lead.employee_count)
            and in_range(self.score_min, self.score_max, lead.score)
        )

    def describe_criteria(self) -> str:
        """The criteria in words, for the rules list and the assignment log's "why"."""
        if self.is_fallback:
            return "fallback: every other lead"
        parts = []
        for label, values in (
            ("region", self.regions),
            ("country", self.countries),
            ("source", self.sources),
            ("industry", self.industries),
        ):
            if values:
                parts.append(f"{label} {'/'.join(values)}")
        for label, low, high in (
            ("employees", self.employee_min, self.employee_max),
            ("score", self.score_min, self.score_max),
        ):
            if low is not None and high is not None:
                parts.append(f"{label} {low}–{high}")
            elif low is not None:
                parts.append(f"{label} ≥ {low}")
            elif high is not None:
                parts.append(f"{label} ≤ {high}")
        return ", ".join(parts) or "any lead"


class AssignmentLog(models.Model):
    """One routing decision: which rule gave which lead to which rep, and why (append-only)."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="assignments")
    rule = models.ForeignKey(
        AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="log"
    )
    rule_name = models.CharField(max_length=100, blank=True)
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="lead_assignments"
    )
    why = models.CharField(max_length=300)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["lead", "-at"], name="assignmentlog_lead_at"),
            models.Index(fields=["rep", "-at"], name="assignmentlog_rep_at"),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} → {self.rep_id} ({self.rule_name})"
