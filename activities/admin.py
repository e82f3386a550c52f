from __future__ import annotations

from django.contrib import admin

from activities.models import Activity


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("kind", "subject", "owner", "due_at", "done_at")
    list_filter = ("kind",)
    raw_id_fields = ("lead", "opportunity", "contact", "owner", "created_by")
