"""Forms of the deal page's Contacts card. Shape only: pipeline.services.contact_roles decide."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Contact
from crm.models import User
from pipeline.models import ContactRole


class AddContactRoleForm(forms.Form):
    """Put a contact on the deal: any contact the user can see (the card offers the deal's
    account's people)."""

    contact = forms.ModelChoiceField(queryset=Contact.objects.none())
    role = forms.ChoiceField(choices=ContactRole.Role.choices, initial=ContactRole.Role.OTHER)
    is_primary = forms.BooleanField(required=False, label="Primary")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        contact = self.fields["contact"]
        assert isinstance(contact, forms.ModelChoiceField)
        contact.queryset = Contact.objects.visible_to(user)


class ContactRoleForm(forms.Form):
    """Change a contact's role on the deal, or make it the primary contact: only the fields
    sent change."""

    role = forms.ChoiceField(choices=ContactRole.Role.choices, required=False)
    is_primary = forms.ChoiceField(
        choices=[("", "unchanged"), ("true", "yes"), ("false", "no")], required=False
    )

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes: dict[str, Any] = {}
        if data.get("role"):
            changes["role"] = data["role"]
        if data.get("is_primary"):
            changes["is_primary"] = data["is_primary"] == "true"
        return changes
