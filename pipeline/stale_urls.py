"""Settings → Follow-up: the stale-deal pages (mounted at /settings/routing/, beside lead
routing's own urls, so the paths stay where users bookmarked them)."""

from __future__ import annotations

from django.urls import path

from pipeline import stale_views as views

app_name = "stale"

urlpatterns = [
    path("follow-up/", views.follow_up, name="follow_up"),
    path("deals/<int:pk>/reopen/", views.reopen_deal, name="reopen_deal"),
]
