"""Accounts and contacts API (/api/v1/accounts/, /api/v1/contacts/): list with filters and a
cursor, read, create, patch. Token scopes `accounts:read/write`, `contacts:read/write`.
Serializers check shape; accounts.services decide; everything starts from the user's scope
(a record outside it is a 404)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.mixins import (
    CreateModelMixin,
    ListModelMixin,
    RetrieveModelMixin,
    UpdateModelMixin,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from accounts import selectors, services
from accounts.models import Account, Contact, ContactEmail, normalise_email
from crm.api.fields import (
    ScopedChoicesMixin,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from crm.api.filters import UtcIsoDateTimeFilter
from crm.http import AuthenticatedRequest
from crm.models import User, users_visible_to

# --- accounts ----------------------------------------------------------------------------------

ACCOUNT_FIELDS = ["id", *services.ACCOUNT_FIELDS, "created_at", "updated_at"]


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ACCOUNT_FIELDS
        read_only_fields = ACCOUNT_FIELDS


class AccountWriteSerializer(ScopedChoicesMixin):
    """An account's fields; on a PATCH only those sent change."""

    scoped_choices = {"owner": users_visible_to}

    name = StrictCharField(max_length=200)
    domain = StrictCharField(max_length=253, required=False, allow_blank=True)
    industry = StrictCharField(max_length=100, required=False, allow_blank=True)
    employee_count = StrictIntegerField(
        min_value=0, max_value=2_147_483_647, required=False, allow_null=True
    )
    country = StrictCharField(max_length=100, required=False, allow_blank=True)
    region = StrictCharField(max_length=100, required=False, allow_blank=True)
    is_customer = StrictBooleanField(required=False)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.none(), required=False, allow_null=True
    )


class AccountFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Name or domain contains")
    owner = django_filters.NumberFilter(field_name="owner_id")
    domain = django_filters.CharFilter(field_name="domain", lookup_expr="iexact")
    is_customer = django_filters.BooleanFilter()
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Account
        fields = ["search", "owner", "domain", "is_customer", "updated_since"]

    def filter_search(
        self, queryset: QuerySet[Account], name: str, value: str
    ) -> QuerySet[Account]:
        return queryset.filter(Q(name__icontains=value) | Q(domain__icontains=value))


class AccountViewSet(
    ListModelMixin, RetrieveModelMixin, CreateModelMixin, UpdateModelMixin, GenericViewSet
):
    """Accounts the caller can see (the account rule: owned in scope, or holding a lead or
    deal in scope; marketing and admins see all). Creates and edits go through
    accounts.services."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    token_scopes = {"read": "accounts:read", "write": "accounts:write"}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Account]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI schema generation
            return Account.objects.none()
        return Account.objects.visible_to(self.request.user)

    @extend_schema(request=AccountWriteSerializer, responses={201: AccountSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = AccountWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.setdefault("owner", self.request.user)
        account = services.create_account(by=self.request.user, **values)
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AccountWriteSerializer, responses=AccountSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()  # 404 unless visible
        data = AccountWriteSerializer(data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        account = services.update_account(
            account=account, by=self.request.user, data=data.validated_data
        )
        return Response(AccountSerializer(account).data)


# --- contacts ----------------------------------------------------------------------------------

# The names first, then the e-mails, then the rest of what the services edit.
CONTACT_FIELDS = [
    "id",
    *services.CONTACT_FIELDS[:2],
    "email",
    "emails",
    *services.CONTACT_FIELDS[2:],
    "created_at",
    "updated_at",
]


class ContactSerializer(serializers.ModelSerializer):
    """A contact as the API shows it: `email` is the primary address, `emails` all of them
    (primary first). Output only: writes go through accounts.services."""

    email = serializers.SerializerMethodField()
    emails = serializers.SerializerMethodField()

    class Meta:
        model = Contact
        fields = CONTACT_FIELDS
        read_only_fields = CONTACT_FIELDS

    def _addresses(self, contact: Contact) -> list[str]:
        # Prefetched in the list (primary first): no per-row query.
        return [row.email for row in contact.emails.all()]

    def get_email(self, contact: Contact) -> str:
        return next(iter(self._addresses(contact)), "")

    def get_emails(self, contact: Contact) -> list[str]:
        return self._addresses(contact)


class ContactWriteSerializer(ScopedChoicesMixin):
    """A contact's fields; on a PATCH only those sent change. `emails` is the whole list
    (the first is the primary); `email` alone sets the primary and keeps the others."""

    scoped_choices = {"owner": users_visible_to, "account": Account.objects.visible_to}

    first_name = StrictCharField(max_length=100, required=False, allow_blank=True)
    last_name = StrictCharField(max_length=100, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False)
    emails = serializers.ListField(
        child=serializers.EmailField(max_length=254),
        max_length=services.MAX_EMAILS,
        required=False,
    )
    phone = StrictCharField(max_length=50, required=False, allow_blank=True)
    title = StrictCharField(max_length=150, required=False, allow_blank=True)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.none(), required=False, allow_null=True
    )
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.none(), required=False, allow_null=True
    )
    unsubscribed = StrictBooleanField(required=False)
    do_not_contact = StrictBooleanField(required=False)
    notes = StrictCharField(max_length=10_000, required=False, allow_blank=True)


class ContactFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", label="Name, title, phone or any e-mail contains (every word)"
    )
    email = django_filters.CharFilter(method="filter_email", label="Has this e-mail (any)")
    account = django_filters.NumberFilter(field_name="account_id")
    owner = django_filters.NumberFilter(field_name="owner_id")
    unsubscribed = django_filters.BooleanFilter()
    do_not_contact = django_filters.BooleanFilter()
    updated_since = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Contact
        fields = [
            "search",
            "email",
            "account",
            "owner",
            "unsubscribed",
            "do_not_contact",
            "updated_since",
        ]

    def filter_search(
        self, queryset: QuerySet[Contact], name: str, value: str
    ) -> QuerySet[Contact]:
        return selectors.search_contacts(queryset, value)

    def filter_email(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        # The unique e-mail index answers it: one probe per contact scanned at most.
        address = ContactEmail.objects.filter(contact=OuterRef("pk"), email=normalise_email(value))
        return queryset.filter(Exists(address))


def _with_emails(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """The contacts with their e-mails, primary first: one query per page, not per row."""
    emails = ContactEmail.objects.order_by("-is_primary", "pk")
    return contacts.prefetch_related(Prefetch("emails", queryset=emails))


class ContactViewSet(
    ListModelMixin, RetrieveModelMixin, CreateModelMixin, UpdateModelMixin, GenericViewSet
):
    """Contacts the caller can see (owned in scope, or at an account they may see). Creates
    and edits go through accounts.services; an e-mail another contact has is a 400."""

    request: AuthenticatedRequest  # past IsAuthenticated: a signed-in User

    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    token_scopes = {"read": "contacts:read", "write": "contacts:write"}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Contact]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI schema generation
            return Contact.objects.none()
        return _with_emails(Contact.objects.visible_to(self.request.user))

    def _shown(self, contact: Contact) -> dict[str, Any]:
        """The contact as just saved (even if the edit moved it out of the caller's scope:
        they wrote it), its e-mails read fresh."""
        saved = _with_emails(Contact.objects.all()).get(pk=contact.pk)
        return dict(ContactSerializer(saved).data)

    @extend_schema(request=ContactWriteSerializer, responses={201: ContactSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ContactWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        emails = values.pop("emails", [])
        if primary := values.pop("email", ""):
            emails = [primary, *emails]
        contact = services.create_contact(by=self.request.user, emails=emails, **values)
        return Response(self._shown(contact), status=status.HTTP_201_CREATED)

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact = self.get_object()  # 404 unless visible
        data = ContactWriteSerializer(data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        contact = services.update_contact(
            contact=contact, by=self.request.user, data=data.validated_data
        )
        return Response(self._shown(contact))
