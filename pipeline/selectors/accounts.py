"""The accounts pages' reads: list with open-deal totals, account page."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from crm.models import Account, Activity, User
from leads.models import Lead
from pipeline.models import Opportunity, Stage


def _deal_sum(user: User, **filters: object) -> Subquery:
    deals = (
        Opportunity.objects.visible_to(user)
        .filter(account_id=OuterRef("pk"), **filters)
        .order_by()
        .values("account_id")
    )
    return Subquery(
        deals.annotate(total=Sum("amount")).values("total"),
        output_field=DecimalField(max_digits=16, decimal_places=2),
    )


def _deal_count(user: User, **filters: object) -> Subquery:
    deals = (
        Opportunity.objects.visible_to(user)
        .filter(account_id=OuterRef("pk"), **filters)
        .order_by()
        .values("account_id")
    )
    return Subquery(deals.annotate(n=Count("pk")).values("n"))


def account_list(*, user: User, q: str = "", owner: str = "", kind: str = "") -> QuerySet[Account]:
    """Accounts the user can see, searchable, with their open deals' count and amount
    (correlated aggregates over the user's visible deals: one statement per page)."""
    qs = Account.objects.visible_to(user).select_related("owner")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(domain__icontains=q))
    if owner == "me":
        qs = qs.filter(owner=user)
    elif owner.isdigit():
        qs = qs.filter(owner_id=int(owner))
    if kind == "customer":
        qs = qs.filter(is_customer=True)
    elif kind == "prospect":
        qs = qs.filter(is_customer=False)
    return qs.annotate(
        open_deals=Coalesce(_deal_count(user, stage__kind=Stage.Kind.OPEN), Value(0)),
        open_amount=Coalesce(
            _deal_sum(user, stage__kind=Stage.Kind.OPEN),
            Value(Decimal("0")),
            output_field=DecimalField(max_digits=16, decimal_places=2),
        ),
    ).order_by("name", "pk")


@dataclass
class AccountTotals:
    open_count: int = 0
    open_amount: Decimal = Decimal("0")
    won_count: int = 0
    won_amount: Decimal = Decimal("0")
    lost_count: int = 0
    lost_amount: Decimal = Decimal("0")


@dataclass
class AccountDetail:
    account: Account
    opportunities: list[Opportunity]
    totals: AccountTotals
    leads: list[Lead]
    activities: list[Activity]


def account_detail(*, user: User, account: Account, limit: int = 100) -> AccountDetail:
    """An account's visible deals (open and closed) with totals, its leads and its timeline
    (three queries; each list is bounded)."""
    deals = list(
        Opportunity.objects.visible_to(user)
        .filter(account=account)
        .select_related("stage", "owner", "pipeline")
        .order_by("-created_at", "-pk")[:limit]
    )
    totals = AccountTotals()
    for deal in deals:
        kind = deal.stage.kind
        setattr(totals, f"{kind}_count", getattr(totals, f"{kind}_count") + 1)
        setattr(totals, f"{kind}_amount", getattr(totals, f"{kind}_amount") + deal.amount)
    leads = list(
        Lead.objects.visible_to(user).filter(account=account).select_related("owner")[:limit]
    )
    activities = list(
        Activity.objects.visible_to(user)
        .filter(Q(opportunity__account=account) | Q(lead__account=account))
        .select_related("owner", "opportunity", "lead")
        .order_by("-created_at", "-pk")[:limit]
    )
    return AccountDetail(
        account=account, opportunities=deals, totals=totals, leads=leads, activities=activities
    )
