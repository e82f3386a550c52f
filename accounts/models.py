"""Accounts (the companies leads work at and deals are sold to) and contacts (the people at
them). Accounts and contacts share one scope: a contact is visible to whoever owns it or may
see its account."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Lower

from accounts import registry
from crm.models import TimeStampedModel, User, scope_q


class AccountQuerySet(models.QuerySet["Account"]):
    def visible_to(self, user: User) -> AccountQuerySet:
        """Accounts owned in scope, or holding a lead or deal in scope (each registered
        record's own `visible_to` decides). Marketing sees all (companies are how it
        targets); reps and managers see what they work."""
        if user.is_admin or user.role == User.Role.MARKETING:
            return self
        q = scope_q(user)
        assert q is not None  # None means "everything": admins, returned above
        for link in registry.reach():
            records = link.model._default_manager.visible_to(user)  # type: ignore[attr-defined]
            q |= Q(models.Exists(records.filter(**{f"{link.field}_id": OuterRef("pk")})))
        return self.filter(q)


class Account(TimeStampedModel):
    """A company. A customer (`is_customer`) is farmed (expansion); a prospect is hunted."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, db_index=True)
    industry = models.CharField(max_length=100, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    country = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    is_customer = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
    )

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(models.functions.Lower("name"), name="account_lower_name")]

    def __str__(self) -> str:
        return self.name


def normalise_email(value: str) -> str:
    """The form every contact e-mail is stored and looked up in: trimmed, lower-cased."""
    return value.strip().lower()


class ContactQuerySet(models.QuerySet["Contact"]):
    def visible_to(self, user: User) -> ContactQuerySet:
        """The one visibility rule for contacts: the user owns the contact (own / team
        subtree), or may see its account (Account.visible_to, the account rule). Admins and
        marketing see every contact, as they see every lead and every account."""
        if user.is_admin or user.role == User.Role.MARKETING:
            return self
        q = scope_q(user)
        assert q is not None  # None means "everything": admins, returned above
        accounts = Account.objects.visible_to(user).values("pk")
        return self.filter(q | Q(account__in=accounts))

    def with_primary_email(self) -> ContactQuerySet:
        """Annotate `primary_email` (one correlated subquery on the primary address's
        partial unique index; "" when the contact has no e-mail)."""
        primary = ContactEmail.objects.filter(contact=OuterRef("pk"), is_primary=True)
        return self.annotate(primary_email=Subquery(primary.values("email")[:1]))


class Contact(TimeStampedModel):
    """A person at an account (or on their own until they join one).

    E-mails live in ContactEmail (one primary, more allowed, each unique across all contacts
    once normalised); change them through accounts.services, which keeps one primary.
    `unsubscribed`: opted out of marketing and bulk e-mail; `do_not_contact`: nobody reaches
    out at all (calls included).
    """

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    title = models.CharField(max_length=150, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contacts",
    )
    # A person outlives the company record: deleting an account leaves its contacts.
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    unsubscribed = models.BooleanField(default=False)
    do_not_contact = models.BooleanField(default=False)
    notes = models.TextField(blank=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        indexes = [models.Index(fields=["last_name", "first_name"], name="contact_name")]

    def __str__(self) -> str:
        return self.full_name or f"Contact #{self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactEmail(models.Model):
    """One e-mail address of a contact, stored normalised (trimmed, lower-cased).

    The unique index on `email` makes "which contact has address X, among any of its
    addresses" one indexed lookup (inbound capture, duplicate detection, lead conversion),
    and two contacts can never share an address. At most one primary per contact.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField(max_length=254)
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_primary", "email"]
        constraints = [
            models.UniqueConstraint(fields=["email"], name="contact_email_unique"),
            models.UniqueConstraint(
                fields=["contact"],
                condition=Q(is_primary=True),
                name="contact_one_primary_email",
            ),
            models.CheckConstraint(condition=~Q(email=""), name="contact_email_not_blank"),
            # Stored normalised, or the unique index would let "Ann@X" and "ann@x" both in.
            models.CheckConstraint(
                condition=Q(email=Lower("email")), name="contact_email_lower_case"
            ),
        ]

    def __str__(self) -> str:
        return self.email
