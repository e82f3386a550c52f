from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from crm.models import (
    ApiToken,
    AuditLog,
    JobRun,
    Notification,
    OrgSettings,
    Team,
    User,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Look, don't touch: rows that only services write (they keep the rules, the history and
    the audit trail), shown to staff for support."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = (
        "username",
        "first_name",
        "last_name",
        "role",
        "team",
        "is_available",
        "is_active",
    )
    list_filter = ("role", "team", "is_available", "is_active")
    list_select_related = ("team",)
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (
            "Plumb",
            {
                "fields": (
                    "role",
                    "team",
                    "is_available",
                    "max_open_leads",
                    "remind_before_minutes",
                    "time_zone",
                    "email_delivery",
                    "digest_hour",
                )
            },
        ),
    )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "parent", "manager", "path")
    list_select_related = ("parent", "manager")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "digest")


admin.site.register(Notification)
admin.site.register(JobRun)
admin.site.register(OrgSettings)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """Read-only: the trail is written by services, never edited."""

    list_display = ("at", "actor", "action", "target_type", "target_id", "target_label")
    list_filter = ("action", "target_type")
    list_select_related = ("actor",)
