"""Admin for leads: the configurable disqualify / recycle reasons and saved CSV mappings."""

from __future__ import annotations

from django.contrib import admin

from leads.models import CsvColumnMapping, Lead, LeadReason


@admin.register(LeadReason)
class LeadReasonAdmin(admin.ModelAdmin):
    list_display = ["label", "kind", "is_active", "order"]
    list_filter = ["kind", "is_active"]
    list_editable = ["is_active", "order"]


@admin.register(CsvColumnMapping)
class CsvColumnMappingAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "created_at"]


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    """Read-mostly: stage changes go through the lead page (leads.services)."""

    list_display = ["email", "full_name", "company", "stage", "score", "owner", "created_at"]
    list_filter = ["stage", "source"]
    search_fields = ["email", "first_name", "last_name", "company"]
    list_select_related = ["owner"]
    readonly_fields = [
        f.name for f in Lead._meta.fields if f.name.endswith("_at") or f.name == "stage"
    ]
    raw_id_fields = ["owner", "account"]
