"""The core's API routes: the signed-in user, users, teams and the audit trail."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from crm.api import views as api

router = SimpleRouter()
router.register("users", api.UserViewSet, basename="user")
router.register("teams", api.TeamViewSet, basename="team")
router.register("audit", api.AuditLogViewSet, basename="auditlog")

urlpatterns = [
    path("me/", api.MeView.as_view(), name="api-me"),
    *router.urls,
]
