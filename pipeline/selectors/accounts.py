"""Deal figures of accounts, for the account pages (accounts.views): open deals per account on
the list, an account's deals with totals on its page."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from accounts.models import Account
from crm.models import User
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


def with_open_deals(accounts: QuerySet[Account], *, user: User) -> QuerySet[Account]:
    """Annotate each account with its open deals' count and amount (`open_deals`,
    `open_amount`), counting only the deals `user` can see (correlated aggregates: one
    statement per page)."""
    return accounts.annotate(
        open_deals=Coalesce(_deal_count(user, stage__kind=Stage.Kind.OPEN), Value(0)),
        open_amount=Coalesce(
            _deal_sum(user, stage__kind=Stage.Kind.OPEN),
            Value(Decimal("0")),
            output_field=DecimalField(max_digits=16, decimal_places=2),
        ),
    )


@dataclass
class AccountTotals:
    open_count: int = 0
    open_amount: Decimal = Decimal("0")
    won_count: int = 0
    won_amount: Decimal = Decimal("0")
    lost_count: int = 0
    lost_amount: Decimal = Decimal("0")


@dataclass
class AccountDeals:
    opportunities: list[Opportunity]
    totals: AccountTotals


def account_deals(*, user: User, account: Account, limit: int = 100) -> AccountDeals:
    """An account's visible deals (open and closed, newest first) with their totals by kind
    (one query; the list is bounded)."""
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
    return AccountDeals(opportunities=deals, totals=totals)
