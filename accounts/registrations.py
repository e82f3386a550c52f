"""How accounts and contacts plug into the layers below them, registered from
`AccountsConfig.ready()`.

- the core (crm.registry): accounts and contacts are records with a page and a History tab;
  a departing user's contacts are handed over; the demo seeds contacts;
- activities: activities are logged on contacts (Activity.contact), so a contact's page has
  a timeline and an activity on a contact follows the contact's scope.
"""

from __future__ import annotations

from django.db.models import QuerySet

from accounts import seed
from accounts.models import Account, Contact
from activities import registry as activities_registry
from crm import audit, registry
from crm.models import User


def owned_contacts(user: User) -> QuerySet[Contact]:
    """The user's contacts: what they hand over when they leave."""
    return Contact.objects.filter(owner=user)


def hand_over_contacts(handover: registry.HandOver) -> None:
    """Give `ids` to the new owner and audit it, set-based: one UPDATE, one bulk audit
    insert, in the reassignment's transaction."""
    Contact.objects.filter(pk__in=handover.ids).update(
        owner_id=handover.to_user_id, updated_at=handover.now
    )
    audit.record_many(
        actor=handover.by,
        action="contact.reassign",
        model=Contact,
        ids=handover.ids,
        changes={"owner": [handover.from_user.pk, handover.to_user_id]},
    )


def register() -> None:
    registry.register_record(Account, history_kind="accounts", url_name="accounts:detail")
    registry.register_record(Contact, history_kind="contacts", url_name="contacts:detail")
    registry.register_open_work(
        registry.OpenWorkKind(
            key="contacts",
            order=30,
            noun="contact",
            model=Contact,
            open_records=owned_contacts,
            describe=lambda contact: str(contact.account or "no account"),
            hand_over=hand_over_contacts,
            related=("account",),
        )
    )
    registry.register_demo_seeder(
        registry.DemoSeeder(label="accounts.contacts", order=35, run=seed.run)
    )
    activities_registry.register_subject(field="contact", model=Contact, order=30)
