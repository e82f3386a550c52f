"""A deal's buying committee: add a contact with a role, change the role or the primary
contact, take a contact off. One contact per deal once, one primary per deal."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Contact
from crm.audit import record
from crm.models import User
from pipeline.models import ContactRole, Opportunity


def _lock_deal(opportunity: Opportunity) -> None:
    """Lock the deal row: role changes of one deal serialise, so moving the primary flag can
    never trip the one-primary index between two concurrent clicks."""
    list(Opportunity.objects.select_for_update().filter(pk=opportunity.pk).values_list("pk"))


def _check_role(role: str) -> None:
    if role not in ContactRole.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})


def _clear_primary(*, opportunity: Opportunity, keep: int | None = None) -> None:
    primaries = ContactRole.objects.filter(opportunity=opportunity, is_primary=True)
    if keep is not None:
        primaries = primaries.exclude(pk=keep)
    primaries.update(is_primary=False)


@transaction.atomic
def add_contact_role(
    *,
    opportunity: Opportunity,
    contact: Contact,
    role: str,
    by: User,
    is_primary: bool = False,
    check_visible: bool = True,
) -> ContactRole:
    """Put a contact on the deal with a role. The contact must be one `by` can see (lead
    conversion, which links the lead's own contact, passes `check_visible=False`) and not on
    the deal yet; marking it primary takes the flag from the previous primary. The first
    contact of a deal becomes its primary. Audited on the deal (opportunity.contact_added)."""
    _check_role(role)
    if check_visible and not Contact.objects.visible_to(by).filter(pk=contact.pk).exists():
        raise ValidationError({"contact": "Choose a contact you can see."})
    _lock_deal(opportunity)
    is_first = not ContactRole.objects.filter(opportunity=opportunity).exists()
    if is_primary:
        _clear_primary(opportunity=opportunity)
    try:
        with transaction.atomic():
            added = ContactRole.objects.create(
                opportunity=opportunity,
                contact=contact,
                role=role,
                is_primary=is_primary or is_first,
            )
    except IntegrityError:
        raise ValidationError({"contact": "This contact is already on the deal."}) from None
    record(
        actor=by,
        action="opportunity.contact_added",
        target=opportunity,
        changes={"contact": [None, contact.pk], "role": [None, role], "primary": added.is_primary},
    )
    return added


@transaction.atomic
def update_contact_role(
    *, contact_role: ContactRole, by: User, role: str | None = None, is_primary: bool | None = None
) -> ContactRole:
    """Change a contact's role on the deal and/or make it the primary contact (only one
    is; un-marking the primary leaves the deal without one). Audited on the deal."""
    if role is not None:
        _check_role(role)
    _lock_deal(contact_role.opportunity)
    locked = ContactRole.objects.select_for_update().get(pk=contact_role.pk)
    changes: dict[str, list[object]] = {}
    if role is not None and role != locked.role:
        changes["role"] = [locked.role, role]
        locked.role = role
    if is_primary is not None and is_primary != locked.is_primary:
        if is_primary:
            _clear_primary(opportunity=locked.opportunity, keep=locked.pk)
        changes["primary"] = [locked.is_primary, is_primary]
        locked.is_primary = is_primary
    if changes:
        locked.save(update_fields=["role", "is_primary", "updated_at"])
        record(
            actor=by,
            action="opportunity.contact_role",
            target=locked.opportunity,
            changes={"contact": locked.contact_id, **changes},
        )
    return locked


@transaction.atomic
def remove_contact_role(*, contact_role: ContactRole, by: User) -> None:
    """Take a contact off the deal (the contact itself stays). Audited on the deal."""
    _lock_deal(contact_role.opportunity)
    deleted, _ = ContactRole.objects.filter(pk=contact_role.pk).delete()
    if deleted:
        record(
            actor=by,
            action="opportunity.contact_removed",
            target=contact_role.opportunity,
            changes={"contact": [contact_role.contact_id, None], "role": [contact_role.role, None]},
        )
