"""Account and contact reads for the pages, the exports and the API: the searchable lists, an
account's activity and contacts, a contact's timeline, and the one indexed e-mail lookup.

What the pages show about an account's deals and leads, or a contact's deals, comes from those
features' selectors (pipeline.selectors, leads.selectors): the pages (accounts.views,
accounts.contact_views) compose them, this app does not import the features above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts import registry
from accounts.models import Account, Contact, ContactEmail, normalise_email
from activities import registry as activities_registry
from activities.models import Activity
from crm.models import User
from crm.selectors import owned_by


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
    (its leads, its deals) and on its contacts, newest first, with their owner and subject
    (one query)."""
    reaching = Q()
    fields = []
    for subject in activities_registry.subjects():
        link = registry.reach_for(subject.model)
        if link is not None:
            reaching |= Q(**{f"{subject.field}__{link.field}": account})
            fields.append(subject.field)
    if on_contact := activities_registry.subject_for(Contact):
        reaching |= Q(**{f"{on_contact.field}__account": account})
        fields.append(on_contact.field)
    if not fields:
        return []
    return list(
        Activity.objects.visible_to(user)
        .filter(reaching)
        .select_related("owner", "email__outbox", *fields)
        .order_by("-created_at", "-pk")[:limit]
    )


def account_contacts(*, user: User, account: Account, limit: int = 100) -> list[Contact]:
    """The account's contacts the user can see, by name, with their primary e-mail (one
    query, bounded)."""
    return list(
        Contact.objects.visible_to(user)
        .filter(account=account)
        .with_primary_email()
        .order_by("last_name", "first_name", "pk")[:limit]
    )


# --- contacts --------------------------------------------------------------------------------

CONTACT_STATUSES = {
    "reachable": Q(unsubscribed=False, do_not_contact=False),
    "unsubscribed": Q(unsubscribed=True),
    "do_not_contact": Q(do_not_contact=True),
}


def contact_list(*, user: User) -> QuerySet[Contact]:
    """Contacts `user` may see, with owner, account and primary e-mail (no per-row query)."""
    return Contact.objects.visible_to(user).select_related("owner", "account").with_primary_email()


def search_contacts(qs: QuerySet[Contact], term: str) -> QuerySet[Contact]:
    """Every word must appear in the name, title, phone or any of the e-mails
    (case-insensitive substring)."""
    for word in term.split()[:5]:
        any_email = ContactEmail.objects.filter(
            contact=OuterRef("pk"), email__contains=word.lower()
        )
        qs = qs.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(title__icontains=word)
            | Q(phone__icontains=word)
            | Exists(any_email)
        )
    return qs


def filter_contacts(*, user: User, filters: dict[str, Any]) -> QuerySet[Contact]:
    """The contact list and its CSV export: visible contacts narrowed by the list's filters
    (cleaned form values): q, account (an Account or its id), account_name (part of the
    account's name), owner ("me", "none" or a user id),
    status (reachable / unsubscribed / do_not_contact); by name."""
    qs = contact_list(user=user)
    if term := (filters.get("q") or "").strip():
        qs = search_contacts(qs, term)
    if account := filters.get("account"):
        qs = qs.filter(account=account)
    if account_name := (filters.get("account_name") or "").strip():
        qs = qs.filter(account__name__icontains=account_name)
    qs = owned_by(qs, owner=filters.get("owner"), user=user)
    if status := filters.get("status"):
        qs = qs.filter(CONTACT_STATUSES[status])
    return qs.order_by("last_name", "first_name", "pk")


def contact_activities(*, contact: Contact, limit: int = 100) -> list[Activity]:
    """A contact's timeline, newest first with owners (one query, bounded): what was logged
    on the contact, and on any subject that links to the contact (the leads it converted
    from), found through the activity registry so this app names no feature above it.

    The caller has checked that the user may see `contact`."""
    on_contact = activities_registry.subject_for(Contact)
    if on_contact is None:
        raise ValueError("contacts are not an activity subject")
    reaching = Q(**{on_contact.field: contact})
    for subject in activities_registry.subjects():
        for field in subject.model._meta.get_fields():
            if field.many_to_one and field.related_model is Contact:
                reaching |= Q(**{f"{subject.field}__{field.name}": contact})
    return list(
        Activity.objects.filter(reaching)
        .select_related("owner", "email__outbox")  # the timeline shows sent e-mail's delivery
        .order_by("-created_at", "-pk")[:limit]
    )


def contacts_by_email(emails: Iterable[str]) -> dict[str, int]:
    """{normalised e-mail: contact id} for the addresses some contact has, among any of its
    e-mails: one lookup on the unique e-mail index. Unscoped (duplicate detection and
    e-mail matching need the whole truth); callers scope what they show."""
    wanted = {normalise_email(email) for email in emails if email}
    if not wanted:
        return {}
    return dict(ContactEmail.objects.filter(email__in=wanted).values_list("email", "contact_id"))
