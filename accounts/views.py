"""Account pages: the list (search, owner and kind filters, open-deal totals) and an account's
page (its deals with totals, its contacts and leads, its timeline). Parse → selectors → render.

The pages compose reads of several apps: accounts' own (the list, the timeline), pipeline's
deal figures and leads' leads of an account. Everything starts from the user's scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts import selectors
from accounts.models import Account, Contact
from activities.models import Activity
from crm.http import AuthenticatedHttpRequest
from crm.models import User, users_visible_to
from leads import selectors as lead_selectors
from pipeline import selectors as pipeline_selectors


@require_GET
@vary_on_headers("HX-Request")
def account_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:100]
    owner = request.GET.get("owner", "")
    kind = request.GET.get("kind", "")
    accounts = selectors.account_list(user=request.user, q=q, owner=owner, kind=kind)
    # Open deals' count and amount per account: one statement per page (correlated sums).
    accounts = pipeline_selectors.with_open_deals(accounts, user=request.user)
    page = Paginator(accounts, 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context = {
        "page": page,
        "q": q,
        "owner": owner,
        "kind": kind,
        "owners": users_visible_to(request.user).exclude(role=User.Role.MARKETING),
        "params": params.urlencode(),
    }
    template = (
        "accounts/_account_rows.html"
        if request.htmx and not request.htmx.boosted
        else "accounts/account_list.html"
    )
    return render(request, template, context)


@dataclass(frozen=True)
class AccountDetail:
    """What the account page shows, each part from the app that owns it."""

    account: Account
    opportunities: Sequence[Any]
    totals: pipeline_selectors.AccountTotals
    leads: Sequence[Any]
    contacts: list[Contact]
    activities: list[Activity]


@require_GET
def account_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """An account's visible deals (open and closed) with totals, its leads, its contacts and
    its timeline: one query each, each list bounded."""
    user = request.user
    account = get_object_or_404(Account.objects.visible_to(user).select_related("owner"), pk=pk)
    deals = pipeline_selectors.account_deals(user=user, account=account)
    detail = AccountDetail(
        account=account,
        opportunities=deals.opportunities,
        totals=deals.totals,
        leads=lead_selectors.account_leads(user=user, account=account),
        contacts=selectors.account_contacts(user=user, account=account),
        activities=selectors.account_activities(user=user, account=account),
    )
    default = pipeline_selectors.default_pipeline()
    return render(
        request, "accounts/account_detail.html", {"detail": detail, "default_pipeline": default}
    )
