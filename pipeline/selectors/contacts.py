"""A deal's buying committee and a contact's deals: contact roles, read for the deal page's
Contacts card and the contact page (each one query, bounded)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Subquery

from accounts.models import Contact, ContactEmail
from crm.models import User
from pipeline.models import ContactRole, Opportunity

CANDIDATES_LIMIT = 200


@dataclass(frozen=True)
class DealContacts:
    """The deal's contact roles (primary first) and the contacts that could join it."""

    opportunity: Opportunity
    roles: list[ContactRole]
    candidates: list[Contact]


def deal_contacts(*, user: User, opportunity: Opportunity) -> DealContacts:
    """The deal's contacts with their roles and primary e-mail (one query), and the visible
    contacts not on it yet that the add form offers: the deal's account's people, or any
    visible contact when the deal has no account (one query, bounded). The caller has checked
    that `user` may see the deal."""
    primary_email = ContactEmail.objects.filter(contact=OuterRef("contact_id"), is_primary=True)
    roles = list(
        ContactRole.objects.filter(opportunity=opportunity)
        .select_related("contact")
        .annotate(contact_email=Subquery(primary_email.values("email")[:1]))
        .order_by("-is_primary", "contact__last_name", "contact__first_name", "pk")
    )
    candidates = Contact.objects.visible_to(user).exclude(
        pk__in=[role.contact_id for role in roles]
    )
    if opportunity.account_id is not None:
        candidates = candidates.filter(account_id=opportunity.account_id)
    return DealContacts(
        opportunity=opportunity,
        roles=roles,
        candidates=list(candidates.order_by("last_name", "first_name", "pk")[:CANDIDATES_LIMIT]),
    )


def contact_deals(*, user: User, contact: Contact, limit: int = 100) -> list[ContactRole]:
    """The visible deals a contact has a role on, newest deal first, with stage and owner
    (one query, bounded)."""
    return list(
        ContactRole.objects.visible_to(user)
        .filter(contact=contact)
        .select_related("opportunity__stage", "opportunity__owner")
        .order_by("-opportunity__created_at", "-pk")[:limit]
    )
