"""Scoring in the Django admin: read-mostly. Rules change through the Scoring settings page
or the API (services write a rule-set version and queue a rescore; the admin would not)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from scoring.models import EngagementEvent, RescoreJob, RuleSetVersion, ScoreHistory, ScoringRule


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ScoringRule)
class ScoringRuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "category", "field", "operator", "event_type", "points", "active")
    list_filter = ("category", "active")


@admin.register(RuleSetVersion)
class RuleSetVersionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "change", "created_by", "created_at")
    list_select_related = ("created_by",)


@admin.register(EngagementEvent)
class EngagementEventAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "lead_id", "type", "occurred_at", "url")
    list_filter = ("type",)
    search_fields = ("external_id",)


@admin.register(ScoreHistory)
class ScoreHistoryAdmin(ReadOnlyAdmin):
    list_display = ("lead_id", "at", "score", "fit_score", "engagement_score", "version", "reason")
    list_filter = ("reason",)


@admin.register(RescoreJob)
class RescoreJobAdmin(ReadOnlyAdmin):
    list_display = ("pk", "version_id", "status", "done", "total", "created_at", "finished_at")
