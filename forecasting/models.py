"""Quotas, manager adjustments of the commit number and weekly pipeline snapshots."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from crm.models import User, scope_q


class Quota(models.Model):
    """The target for one rep or one team in one fiscal quarter (`period` like "2026-Q4").

    Exactly one of `user` / `team` is set. A team without its own quota uses the sum of its
    members' and sub-teams' quotas (computed in the rollup, never stored).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey(
        "crm.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    period = models.CharField(max_length=7)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["period", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=True, team__isnull=False)
                | Q(user__isnull=False, team__isnull=True),
                name="quota_user_xor_team",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="quota_not_negative"),
            models.UniqueConstraint(
                fields=["user", "period"], condition=Q(user__isnull=False), name="quota_unique_user"
            ),
            models.UniqueConstraint(
                fields=["team", "period"], condition=Q(team__isnull=False), name="quota_unique_team"
            ),
        ]
        indexes = [models.Index(fields=["period"], name="quota_period")]

    def __str__(self) -> str:
        return f"{self.user_id or 'team ' + str(self.team_id)} {self.period}: {self.amount}"


class ForecastAdjustment(models.Model):
    """A manager's override of a subordinate's (rep's or sub-team's) commit for a quarter.

    One row per subject and period (the latest call wins); the original commit stays computed
    from the deals, so both numbers can be shown, and the override replaces the subject's
    commit when its parent rolls up.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey(
        "crm.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    period = models.CharField(max_length=7)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    note = models.CharField(max_length=500)
    adjusted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    adjusted_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-adjusted_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=True, team__isnull=False)
                | Q(user__isnull=False, team__isnull=True),
                name="adjustment_user_xor_team",
            ),
            models.UniqueConstraint(
                fields=["user", "period"],
                condition=Q(user__isnull=False),
                name="adjustment_unique_user",
            ),
            models.UniqueConstraint(
                fields=["team", "period"],
                condition=Q(team__isnull=False),
                name="adjustment_unique_team",
            ),
        ]

    def __str__(self) -> str:
        return f"adjust {self.user_id or self.team_id} {self.period} → {self.amount}"


class ForecastSnapshot(models.Model):
    """One weekly snapshot (the week starting Monday `week_start`). Unique per week: the
    task claims the row, so reruns and concurrent runs write the lines once."""

    week_start = models.DateField(unique=True)
    taken_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    line_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-week_start"]

    def __str__(self) -> str:
        return f"Snapshot of week {self.week_start}"


class SnapshotLineQuerySet(models.QuerySet["SnapshotLine"]):
    def visible_to(self, user: User) -> SnapshotLineQuerySet:
        """The deal scope applied to history: own / subtree / all; marketing sees none."""
        if user.role == User.Role.MARKETING and not user.is_admin:
            return self.none()
        q = scope_q(user)
        return self if q is None else self.filter(q)


class SnapshotLine(models.Model):
    """An open opportunity as it stood when the snapshot was taken."""

    snapshot = models.ForeignKey(ForecastSnapshot, on_delete=models.CASCADE, related_name="lines")
    opportunity = models.ForeignKey(
        "pipeline.Opportunity", on_delete=models.CASCADE, related_name="+"
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    stage = models.ForeignKey("pipeline.Stage", on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    forecast_category = models.CharField(max_length=16)
    expected_close_date = models.DateField(null=True, blank=True)
    probability = models.PositiveSmallIntegerField(default=0)

    objects = SnapshotLineQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "opportunity"], name="snapshot_line_once"),
        ]
        indexes = [
            models.Index(fields=["snapshot", "owner"], name="snapshot_line_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}/{self.opportunity_id}"
