"""Forms of the contact pages. Shape only: accounts.services decide."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from accounts.models import Account, Contact
from accounts.selectors import CONTACT_STATUSES
from crm.forms import bootstrap
from crm.models import User, users_visible_to

STATUS_CHOICES = [
    ("", "Any status"),
    ("reachable", "Reachable"),
    ("unsubscribed", "Unsubscribed"),
    ("do_not_contact", "Do not contact"),
]
assert {value for value, _ in STATUS_CHOICES if value} == set(CONTACT_STATUSES)


class ContactFilterForm(forms.Form):
    """The contact list's filters (GET). Invalid values are dropped, never an error page.

    `account` is an account id (the account page links here) or text matched against account
    names; `owner` is "me", "none" or a user id."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    account = forms.CharField(required=False, max_length=200)
    owner = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = users_visible_to(user).only("pk", "username", "first_name", "last_name")
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ChoiceField)
        owner.choices = [
            ("", "Anyone"),
            ("me", "Me"),
            ("none", "Nobody"),
            *((str(person.pk), str(person)) for person in people),
        ]
        bootstrap(self)

    def cleaned_filters(self) -> dict[str, Any]:
        """The valid filters only: a bad value is ignored rather than shown as an error."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {name: data.get(name) for name in self.fields if name not in self.errors}


class ContactForm(forms.Form):
    """A contact's fields: the primary e-mail and any others (one per line, or separated by
    commas or spaces); accounts and owners offered are the ones the user may choose."""

    first_name = forms.CharField(required=False, max_length=100)
    last_name = forms.CharField(required=False, max_length=100)
    email = forms.CharField(required=False, max_length=254, label="Primary e-mail")
    other_emails = forms.CharField(
        required=False,
        max_length=5000,
        label="Other e-mails",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    phone = forms.CharField(required=False, max_length=50)
    title = forms.CharField(required=False, max_length=150)
    account = forms.ModelChoiceField(queryset=Account.objects.none(), required=False)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False)
    unsubscribed = forms.BooleanField(required=False, label="Unsubscribed from e-mail")
    do_not_contact = forms.BooleanField(required=False, label="Do not contact")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account = self.fields["account"]
        owner = self.fields["owner"]
        assert isinstance(account, forms.ModelChoiceField)
        assert isinstance(owner, forms.ModelChoiceField)
        account.queryset = Account.objects.visible_to(user).order_by("name", "pk")
        owner.queryset = users_visible_to(user)
        bootstrap(self)

    @classmethod
    def initial_for(cls, contact: Contact, emails: list[str]) -> dict[str, Any]:
        """The edit form's initial values (the contact's e-mails read by the caller)."""
        names = ("first_name", "last_name", "phone", "title", "unsubscribed", "do_not_contact")
        return {
            **{name: getattr(contact, name) for name in names},
            "notes": contact.notes,
            "account": contact.account_id,
            "owner": contact.owner_id,
            "email": emails[0] if emails else "",
            "other_emails": "\n".join(emails[1:]),
        }

    def service_data(self) -> dict[str, Any]:
        """What accounts.services.create_contact / update_contact take: `emails` is the whole
        list, the primary first."""
        data = dict(self.cleaned_data)
        others = re.split(r"[\s,;]+", data.pop("other_emails") or "")
        data["emails"] = [email for email in [data.pop("email"), *others] if email]
        return data
