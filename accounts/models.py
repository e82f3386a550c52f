"""Accounts: the companies leads work at and deals are sold to (contacts join them later)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Q

from accounts import registry
from crm.models import TimeStampedModel, User, scope_q


class AccountQuerySet(models.QuerySet["Account"]):
    def visible_to(self, user: User) -> AccountQuerySet:
        """Accounts owned in scope, or holding a lead or deal in scope (each registered
        record's own `visible_to` decides). Marketing sees all (companies are how it
        targets); reps and managers see what they work."""
        if user.is_admin or user.role == User.Role.MARKETING:
            return self
        q = scope_q(user)
        assert q is not None  # None means "everything": admins, returned above
        for link in registry.reach():
            records = link.model._default_manager.visible_to(user)  # type: ignore[attr-defined]
            q |= Q(models.Exists(records.filter(**{f"{link.field}_id": OuterRef("pk")})))
        return self.filter(q)


class Account(TimeStampedModel):
    """A company. A customer (`is_customer`) is farmed (expansion); a prospect is hunted."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    industry = models.CharField(max_length=100, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    country = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    is_customer = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
    )

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(models.functions.Lower("name"), name="account_lower_name")]

    def __str__(self) -> str:
        return self.name
