"""Account and contact state changes: create and edit accounts and contacts, keep a contact's
e-mail addresses (one primary, each unique across all contacts), and find-or-create the
contact of a converting lead. Every change is audited in its own transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.models import Account, Contact, ContactEmail, normalise_email
from crm.audit import diff, record
from crm.models import User, users_visible_to

MAX_EMAILS = 20
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "title",
    "owner",
    "account",
    "unsubscribed",
    "do_not_contact",
    "notes",
)
ACCOUNT_FIELDS = (
    "name",
    "domain",
    "industry",
    "employee_count",
    "country",
    "region",
    "is_customer",
    "owner",
)


# --- checks shared by accounts and contacts ---------------------------------------------------


def _check_owner(*, by: User, owner: User | None) -> None:
    """An owner is an active user whose records `by` may see (themselves, their subtree,
    anyone for admins and marketing)."""
    if owner is not None and not users_visible_to(by).filter(pk=owner.pk).exists():
        raise ValidationError({"owner": "You cannot give records to that user."})


def _check_account(*, by: User, account: Account | None) -> None:
    if account is not None and not Account.objects.visible_to(by).filter(pk=account.pk).exists():
        raise ValidationError({"account": "Choose an account you can see."})


def _stored(obj: Contact | Account, names: Iterable[str]) -> dict[str, Any]:
    """The current values of `names` (a foreign key by its id: no query)."""
    return {
        name: getattr(obj, f"{name}_id" if name in ("owner", "account") else name) for name in names
    }


def _changed_relation(obj: Contact | Account, name: str, value: Any) -> bool:
    return getattr(value, "pk", None) != getattr(obj, f"{name}_id")


def _unknown(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    if unknown := sorted(set(data) - set(allowed)):
        raise ValidationError({"detail": f"Unknown field(s): {', '.join(unknown)}."})


# --- e-mail addresses ------------------------------------------------------------------------


def clean_emails(values: Iterable[str]) -> list[str]:
    """Normalised, valid, de-duplicated addresses in the order given (the first is the
    primary); a ValidationError on `emails` names the first bad one."""
    cleaned: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise ValidationError({"emails": "Each e-mail is a text."})
        email = normalise_email(value)
        if not email:
            continue
        if len(email) > 254:
            raise ValidationError({"emails": f"{email[:40]}… is longer than 254 characters."})
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"emails": f"{email} is not a valid e-mail."}) from None
        if email not in cleaned:
            cleaned.append(email)
    if len(cleaned) > MAX_EMAILS:
        raise ValidationError({"emails": f"At most {MAX_EMAILS} e-mails per contact."})
    return cleaned


def _taken_message(emails: Iterable[str]) -> ValidationError:
    listed = ", ".join(sorted(emails))
    return ValidationError({"emails": f"Another contact already has {listed}."})


def _set_emails(*, contact: Contact, emails: list[str]) -> None:
    """Make `emails` (normalised, first = primary) the contact's addresses: removed ones go,
    new ones are inserted, the primary flag moves. Set-based (a fixed number of statements);
    an address another contact holds is refused, and the unique index settles a race."""
    taken = set(
        ContactEmail.objects.filter(email__in=emails)
        .exclude(contact=contact)
        .values_list("email", flat=True)
    )
    if taken:
        raise _taken_message(taken)
    current = dict(contact.emails.values_list("email", "is_primary"))
    primary = emails[0] if emails else None
    ContactEmail.objects.filter(contact=contact).exclude(email__in=emails).delete()
    # The old primary gives way first: the partial unique index allows one at a time.
    ContactEmail.objects.filter(contact=contact, is_primary=True).exclude(email=primary).update(
        is_primary=False
    )
    if primary in current and not current[primary]:
        ContactEmail.objects.filter(contact=contact, email=primary).update(is_primary=True)
    try:
        with transaction.atomic():
            ContactEmail.objects.bulk_create(
                ContactEmail(contact=contact, email=email, is_primary=email == primary)
                for email in emails
                if email not in current
            )
    except IntegrityError:  # another contact took one of them meanwhile
        raise _taken_message(
            ContactEmail.objects.filter(email__in=emails)
            .exclude(contact=contact)
            .values_list("email", flat=True)
        ) from None


def contact_emails(contact: Contact) -> list[str]:
    """The contact's addresses, primary first (one query)."""
    return list(contact.emails.order_by("-is_primary", "pk").values_list("email", flat=True))


# --- contacts --------------------------------------------------------------------------------


def _validate_contact(contact: Contact, *, emails: list[str]) -> None:
    if not (contact.first_name.strip() or contact.last_name.strip() or emails):
        raise ValidationError({"first_name": "Give the contact a name or an e-mail."})
    # Lengths and types; the owner and account were checked against the scope already.
    contact.full_clean(exclude=["owner", "account"])


@transaction.atomic
def create_contact(
    *,
    by: User,
    first_name: str = "",
    last_name: str = "",
    emails: Iterable[str] = (),
    phone: str = "",
    title: str = "",
    owner: User | None = None,
    account: Account | None = None,
    unsubscribed: bool = False,
    do_not_contact: bool = False,
    notes: str = "",
) -> Contact:
    """Create a contact with its e-mails (the first is the primary).

    The owner defaults to `by` and must be someone `by` may see; the account must be visible
    to `by`. No address may belong to another contact (checked, and enforced by the unique
    index). Audited as contact.create.
    """
    owner = owner or by
    _check_owner(by=by, owner=owner)
    _check_account(by=by, account=account)
    cleaned = clean_emails(emails)
    contact = Contact(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        phone=phone.strip(),
        title=title.strip(),
        owner=owner,
        account=account,
        unsubscribed=unsubscribed,
        do_not_contact=do_not_contact,
        notes=notes,
    )
    _validate_contact(contact, emails=cleaned)
    contact.save()
    _set_emails(contact=contact, emails=cleaned)
    record(
        actor=by,
        action="contact.create",
        target=contact,
        changes=diff({}, {**_stored(contact, CONTACT_FIELDS), "emails": cleaned}),
    )
    return contact


@transaction.atomic
def update_contact(*, contact: Contact, by: User, data: Mapping[str, Any]) -> Contact:
    """Edit a contact (edit form and PATCH): only the keys given change.

    `emails` replaces the whole list (the first becomes the primary); `email` alone makes that
    address the primary, keeping the others. The row is locked, so two edits serialise.
    Owner and account follow the same rules as on creation. Audited as contact.update.
    """
    _unknown(data, (*CONTACT_FIELDS, "email", "emails"))
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    if "owner" in data and _changed_relation(locked, "owner", data["owner"]):
        _check_owner(by=by, owner=data["owner"])
    if "account" in data and _changed_relation(locked, "account", data["account"]):
        _check_account(by=by, account=data["account"])
    before_emails = contact_emails(locked)
    emails = before_emails
    if "emails" in data:
        emails = clean_emails(data["emails"] or [])
    if data.get("email"):
        [primary] = clean_emails([data["email"]])
        emails = [primary, *(e for e in emails if e != primary)]
    fields = [name for name in CONTACT_FIELDS if name in data]
    before = _stored(locked, fields)
    for name in fields:
        value = data[name]
        setattr(
            locked, name, value.strip() if isinstance(value, str) and name != "notes" else value
        )
    _validate_contact(locked, emails=emails)
    locked.save()
    if emails != before_emails:
        _set_emails(contact=locked, emails=emails)
    changes = diff(
        {**before, "emails": before_emails},
        {**_stored(locked, fields), "emails": emails},
    )
    if changes:
        record(actor=by, action="contact.update", target=locked, changes=changes)
    return locked


@transaction.atomic
def contact_for_lead(
    *,
    by: User,
    email: str,
    account: Account | None,
    owner: User | None,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    title: str = "",
) -> Contact:
    """The contact a converting lead becomes: the contact that already has the lead's e-mail
    (among any of its addresses: one indexed lookup), which joins `account` if it had none,
    or a new contact at `account` owned by `owner`.

    No scope check: a lead's e-mail is one person whoever can see them, so conversion links
    the existing contact rather than creating a duplicate. Audited (contact.create /
    contact.update) like any other change.
    """
    address = normalise_email(email)
    found = (
        ContactEmail.objects.select_related("contact").filter(email=address).first()
        if address
        else None
    )
    if found is not None:
        contact = found.contact
        if contact.account_id is None and account is not None:
            Contact.objects.filter(pk=contact.pk, account__isnull=True).update(account=account)
            record(
                actor=by,
                action="contact.update",
                target=contact,
                changes={"account": [None, account.pk]},
            )
            contact.account = account
        return contact
    contact = Contact.objects.create(
        first_name=first_name[:100],
        last_name=last_name[:100],
        phone=phone[:50],
        title=title[:150],
        owner=owner,
        account=account,
    )
    if address:
        ContactEmail.objects.create(contact=contact, email=address, is_primary=True)
    record(
        actor=by,
        action="contact.create",
        target=contact,
        changes=diff(
            {}, {**_stored(contact, CONTACT_FIELDS), "emails": [address] if address else []}
        ),
    )
    return contact


# --- accounts --------------------------------------------------------------------------------


def _validate_account(account: Account) -> None:
    account.name = account.name.strip()
    account.domain = account.domain.strip().lower()
    if not account.name:
        raise ValidationError({"name": "Name the account."})
    account.full_clean(exclude=["owner"])


@transaction.atomic
def create_account(
    *,
    by: User,
    name: str,
    domain: str = "",
    industry: str = "",
    employee_count: int | None = None,
    country: str = "",
    region: str = "",
    is_customer: bool = False,
    owner: User | None = None,
    check_owner: bool = True,
) -> Account:
    """Create an account (a company). The owner must be someone `by` may see (conversion
    passes the lead's owner, already decided, with `check_owner=False`). Audited as
    account.create."""
    if check_owner:
        _check_owner(by=by, owner=owner)
    account = Account(
        name=name,
        domain=domain,
        industry=industry,
        employee_count=employee_count,
        country=country,
        region=region,
        is_customer=is_customer,
        owner=owner,
    )
    _validate_account(account)
    account.save()
    record(
        actor=by,
        action="account.create",
        target=account,
        changes=diff({}, _stored(account, ACCOUNT_FIELDS)),
    )
    return account


@transaction.atomic
def update_account(*, account: Account, by: User, data: Mapping[str, Any]) -> Account:
    """Edit an account: only the keys given change; the row is locked so two edits
    serialise. A new owner must be someone `by` may see. Audited as account.update."""
    _unknown(data, ACCOUNT_FIELDS)
    locked = Account.objects.select_for_update().get(pk=account.pk)
    if "owner" in data and _changed_relation(locked, "owner", data["owner"]):
        _check_owner(by=by, owner=data["owner"])
    before = _stored(locked, data)
    for name, value in data.items():
        setattr(locked, name, value.strip() if isinstance(value, str) else value)
    _validate_account(locked)
    locked.save()
    changes = diff(before, _stored(locked, data))
    if changes:
        record(actor=by, action="account.update", target=locked, changes=changes)
    return locked
