"""The project's URL map: each app mounts its own urls; the API lives under /api/v1/
(config/api_urls.py)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication

from crm.views import core as views

# Oversized bodies answer 413 with a message, other malformed requests a clear 400.
handler400 = "crm.views.errors.bad_request"
handler404 = "crm.views.errors.not_found"  # JSON under /api/
handler500 = "crm.views.errors.server_error"

urlpatterns = [
    path("", include("crm.urls")),
    path("", include("crm.views.settings_urls")),
    path("settings/routing/", include("leads.assignment_urls")),
    path("settings/routing/", include("pipeline.stale_urls")),  # Follow-up: stale deals
    path("", include("signin.auth_urls")),  # /login/ (+ code step, SSO), /logout/
    path("", include("signin.urls")),  # two-factor, sessions, security, password reset
    path("healthz", views.healthz, name="healthz"),
    path("leads/", include("leads.urls")),
    path("pipeline/", include("pipeline.urls")),
    path("accounts/", include("accounts.urls")),
    path("contacts/", include("accounts.contact_urls")),
    path("settings/email-templates/", include("activities.urls")),
    path("scoring/", include("scoring.urls")),
    path("", include("forecasting.urls")),
    path("", include("webhooks.urls")),  # Settings → Webhooks
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs page is for browsers: session only (its HTML error page cannot re-run a failed
    # token check), and its script comes from a URL, not inline (CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", authentication_classes=[SessionAuthentication]
        ),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
]
