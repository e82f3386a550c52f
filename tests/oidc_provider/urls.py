from __future__ import annotations

from django.urls import include, path, re_path

from tests.oidc_provider import views

urlpatterns = [
    path("health/", views.health),
    re_path(r"^o/\.well-known/openid-configuration/?$", views.discovery),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
