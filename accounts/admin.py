from __future__ import annotations

from django.contrib import admin

from accounts.models import Account, Contact, ContactEmail
from crm.admin import ReadOnlyAdmin


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "industry", "is_customer", "owner")
    search_fields = ("name", "domain")
    list_select_related = ("owner",)


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    extra = 0
    fields = ("email", "is_primary")


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    """Look, don't touch: contacts change through accounts.services (e-mails normalised and
    kept unique with one primary, the change audited), on the pages or through the API."""

    list_display = ("__str__", "title", "account", "owner", "unsubscribed", "do_not_contact")
    search_fields = ("first_name", "last_name", "emails__email")
    list_select_related = ("account", "owner")
    inlines = [ContactEmailInline]
