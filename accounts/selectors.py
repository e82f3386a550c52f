"""Account reads for the account pages: the searchable list and an account's activity.

What the pages show about an account's deals and leads comes from those features' selectors
(pipeline.selectors.accounts, leads.selectors.account_leads): the pages (accounts.views)
compose them, this app does not import the features above it.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts import registry
from accounts.models import Account
from activities import registry as activities_registry
from activities.models import Activity
from crm.models import User


def account_list(*, user: User, q: str = "", owner: str = "", kind: str = "") -> QuerySet[Account]:
    """Accounts the user can see, filtered by name/domain, owner ("me" or a user id) and kind
    (customer / prospect), by name."""
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
    return qs.order_by("name", "pk")


def account_activities(*, user: User, account: Account, limit: int = 100) -> list[Activity]:
    """The account's timeline: visible activities on any record that reaches the account
    (its leads, its deals), newest first, with their owner and subject (one query)."""
    reaching = Q()
    fields = []
    for subject in activities_registry.subjects():
        link = registry.reach_for(subject.model)
        if link is not None:
            reaching |= Q(**{f"{subject.field}__{link.field}": account})
            fields.append(subject.field)
    if not fields:
        return []
    return list(
        Activity.objects.visible_to(user)
        .filter(reaching)
        .select_related("owner", *fields)
        .order_by("-created_at", "-pk")[:limit]
    )
