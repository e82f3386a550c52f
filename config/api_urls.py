"""/api/v1/: each app contributes its own routes (its api_urls module)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("crm.api.urls")),
    path("", include("activities.api_urls")),
    path("", include("leads.api_urls")),
    path("", include("pipeline.api_urls")),
    path("", include("scoring.api_urls")),
    path("", include("forecasting.api_urls")),
]
