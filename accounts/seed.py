"""Demo data for contacts (called by `manage.py seed_demo` after pipeline's accounts and deals
exist; idempotent): two to four people at each account, with e-mails at its domain, and a
buying committee on each deal (its first contact primary), plus a few logged calls."""

from __future__ import annotations

import random

from django.db import transaction

from accounts.models import Account, Contact, ContactEmail
from activities.models import Activity
from crm.seed import DemoOrg
from pipeline.models import ContactRole, Opportunity

FIRST = ["Alex", "Bea", "Carl", "Dora", "Emil", "Fay", "Gus", "Hana", "Ivo", "Jill", "Kurt", "Lina"]
LAST = ["Novak", "Okafor", "Petit", "Quinn", "Rossi", "Sato", "Tan", "Ueda", "Vance", "Weber"]
TITLES = ["CFO", "Head of Sales", "IT Director", "Operations Manager", "CEO", "Procurement Lead"]
ROLES = [
    ContactRole.Role.DECISION_MAKER,
    ContactRole.Role.ECONOMIC_BUYER,
    ContactRole.Role.CHAMPION,
    ContactRole.Role.TECHNICAL_EVALUATOR,
    ContactRole.Role.INFLUENCER,
]


@transaction.atomic
def run(org: DemoOrg) -> dict[str, int]:
    """Create the demo contacts unless some exist; return counts to print."""
    if Contact.objects.exists():
        return {}
    rng = random.Random(11)
    accounts = list(Account.objects.order_by("pk"))
    contacts: list[Contact] = []
    emails: list[tuple[int, str]] = []
    for account in accounts:
        for n in range(rng.randint(2, 4)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            contacts.append(
                Contact(
                    first_name=first,
                    last_name=last,
                    title=rng.choice(TITLES),
                    phone=f"+44 20 7946 {rng.randint(1000, 9999)}",
                    owner=account.owner,
                    account=account,
                    unsubscribed=rng.random() < 0.05,
                )
            )
            domain = account.domain or "example.com"
            emails.append((len(contacts) - 1, f"{first}.{last}.{account.pk}.{n}@{domain}".lower()))
    Contact.objects.bulk_create(contacts, batch_size=500)
    ContactEmail.objects.bulk_create(
        (ContactEmail(contact=contacts[i], email=email, is_primary=True) for i, email in emails),
        batch_size=1000,
    )
    at_account: dict[int, list[Contact]] = {}
    for contact in contacts:
        assert contact.account_id is not None  # every demo contact works at an account
        at_account.setdefault(contact.account_id, []).append(contact)
    roles, calls = [], []
    for deal in Opportunity.objects.exclude(account=None).only("pk", "account_id", "owner_id"):
        assert deal.account_id is not None
        people = at_account.get(deal.account_id, [])
        for index, contact in enumerate(rng.sample(people, k=min(len(people), rng.randint(1, 3)))):
            roles.append(
                ContactRole(
                    opportunity=deal,
                    contact=contact,
                    role=rng.choice(ROLES),
                    is_primary=index == 0,
                )
            )
            if index == 0 and rng.random() < 0.3:
                calls.append(
                    Activity(
                        kind=Activity.Kind.CALL,
                        subject=f"Call with {contact.full_name}",
                        owner_id=deal.owner_id,
                        created_by_id=deal.owner_id,
                        contact=contact,
                        opportunity=deal,
                    )
                )
    ContactRole.objects.bulk_create(roles, batch_size=1000)
    Activity.objects.bulk_create(calls, batch_size=1000)
    return {
        "contacts": len(contacts),
        "deal contact roles": len(roles),
        "contact calls": len(calls),
    }
