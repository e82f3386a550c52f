"""Accounts follow the leads and deals a user can see (registered reach: accounts.registry)."""

from __future__ import annotations

import pytest

from accounts.models import Account
from tests.factories import AccountFactory, OpportunityFactory

pytestmark = pytest.mark.django_db


def names(qs):
    return set(qs.values_list("pk", flat=True))


def test_accounts_follow_the_deals_and_leads_a_user_can_see(rep, other_rep):
    mine = AccountFactory()
    theirs = AccountFactory()
    owned = AccountFactory(owner=rep)
    OpportunityFactory(owner=rep, account=mine)
    OpportunityFactory(owner=other_rep, account=theirs)
    assert names(Account.objects.visible_to(rep)) == {mine.pk, owned.pk}
