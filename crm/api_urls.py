"""/api/v1/: each app contributes its own routes (its api_urls module)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from crm import api

router = SimpleRouter()
router.register("users", api.UserViewSet, basename="user")
router.register("teams", api.TeamViewSet, basename="team")
router.register("audit", api.AuditLogViewSet, basename="auditlog")

urlpatterns = [
    path("me/", api.MeView.as_view(), name="api-me"),
    *router.urls,
    path("", include("leads.api_urls")),
    path("", include("pipeline.api_urls")),
    path("", include("scoring.api_urls")),
    path("", include("forecasting.api_urls")),
]
