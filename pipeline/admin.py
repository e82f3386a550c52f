"""Django admin: look, don't touch. Pipelines change in Settings and deals through services
(the admin would bypass the shape rules, the version check and the history)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from crm.admin import ReadOnlyAdmin
from pipeline.models import LostReason, Opportunity, Pipeline, Stage, StageChange


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Pipeline)
class PipelineAdmin(ReadOnlyAdmin):
    list_display = ["name", "is_default", "is_archived", "order"]
    inlines = [StageInline]


@admin.register(LostReason)
class LostReasonAdmin(ReadOnlyAdmin):
    list_display = ["label", "is_active", "order"]


@admin.register(Opportunity)
class OpportunityAdmin(ReadOnlyAdmin):
    list_display = ["name", "account", "owner", "stage", "amount", "expected_close_date", "version"]
    list_filter = ["pipeline", "stage", "deal_type", "is_stale"]
    list_select_related = ["account", "owner", "stage"]
    search_fields = ["name", "account__name"]


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ["opportunity", "from_stage", "to_stage", "changed_by", "changed_at"]
    list_select_related = ["opportunity", "from_stage", "to_stage", "changed_by"]
