"""The demo seed: people at every account, a buying committee on every deal, created once."""

from __future__ import annotations

import pytest
from django.db.models import Count, F, Q

from accounts import seed
from accounts.models import Account, Contact, ContactEmail
from crm.seed import seed_org
from pipeline import seed as pipeline_seed
from pipeline.models import ContactRole, Opportunity

pytestmark = pytest.mark.django_db


def test_seed_creates_contacts_and_deal_roles_and_is_idempotent():
    org = seed_org(password="pw")
    pipeline_seed.run(org)
    counts = seed.run(org)
    accounts = Account.objects.count()
    assert 2 * accounts <= counts["contacts"] == Contact.objects.count() <= 4 * accounts
    # every contact has exactly one e-mail, its primary, at its account's domain
    assert ContactEmail.objects.filter(is_primary=True).count() == counts["contacts"]
    sample = Contact.objects.select_related("account").first()
    assert sample.emails.get().email.endswith(f"@{sample.account.domain}")
    # every deal has a committee of 1 to 3 of its account's people, one of them primary
    deals = Opportunity.objects.annotate(
        people=Count("contact_roles"),
        primaries=Count("contact_roles", filter=Q(contact_roles__is_primary=True)),
    )
    assert {(d.primaries, 1 <= d.people <= 3) for d in deals} == {(1, True)}
    assert not ContactRole.objects.exclude(contact__account=F("opportunity__account")).exists()
    assert seed.run(org) == {}
    assert Contact.objects.count() == counts["contacts"]
