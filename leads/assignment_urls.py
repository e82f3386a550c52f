"""Settings → Lead routing (mounted at /settings/routing/; the Follow-up page under the same
prefix is pipeline's: pipeline/stale_urls.py)."""

from __future__ import annotations

from django.urls import path

from leads import assignment_views as views

app_name = "routing"

urlpatterns = [
    path("", views.routing_index, name="index"),
    path("rules/new/", views.rule_edit, name="rule_create"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("rules/<int:pk>/dry-run/", views.dry_run, name="rule_dry_run"),
    path("dry-run/", views.dry_run, name="dry_run"),
]
