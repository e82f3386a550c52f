from __future__ import annotations

from django.contrib import admin

from accounts.models import Account


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "industry", "is_customer", "owner")
    search_fields = ("name", "domain")
    list_select_related = ("owner",)
